#include "config/model_compare.hpp"
#include "config_test_util.hpp"
#include "tlsgate/config/load.hpp"
#include "tlsgate/config/toml_loader.hpp"
#include "tlsgate/config/toml_writer.hpp"

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

using namespace tlsgate::config;
using Catch::Contains;

using tlsgate::test::joined;

namespace {

const std::string corpus = std::string(TLSGATE_TEST_DATA_DIR) + "/../stunnel";

// model -> TOML -> model, compared field by field.
void round_trip(const Config& model, const std::vector<std::string>& notes = {}) {
    const std::string text = write_toml(model, notes);
    INFO(text);
    auto back = load_toml_string(text, "/tmp/written.toml");
    INFO(joined(back.errors));
    REQUIRE(back.errors.empty());
    REQUIRE(back.config);
    tlsgate::test::check_same_config(model, *back.config);
}

} // namespace

TEST_CASE("toml writer: every stunnel corpus file round-trips", "[toml_writer]") {
    for (const auto& entry : std::filesystem::directory_iterator(corpus + "/good")) {
        if (!entry.is_regular_file()) {
            continue;
        }
        const std::string path = entry.path().string();
        INFO(path);
        auto loaded = load_config_file(path);
        REQUIRE(loaded.format == ConfigFormat::stunnel);
        INFO(joined(loaded.result.errors));
        REQUIRE(loaded.result.config);
        round_trip(*loaded.result.config, loaded.notes);
    }
}

TEST_CASE("toml writer: the notes become comments", "[toml_writer]") {
    auto loaded = load_config_string("[a]\naccept = 1\nconnect = 2\ncert = /c.pem\n", "/x/a.conf");
    REQUIRE(loaded.result.config);
    const std::string text = write_toml(*loaded.result.config, loaded.notes);
    CHECK_THAT(text, Contains("# tlsgate configuration written from /x/a.conf\n"));
    CHECK_THAT(text, Contains("# note: foreground is not set"));
    CHECK_THAT(text, Contains("\n[[service]]\nname = \"a\"\nlisten = \"0.0.0.0:1\"\n"));
}

TEST_CASE("toml writer: a TOML config round-trips, odd values included", "[toml_writer]") {
    auto loaded = load_toml_string(R"([global]
workers = 3
log_level = "debug"
drain_timeout = "1500ms"
daemon = true
pid_file = "/run/t.pid"

[tls]
cert = ["/a.pem", "/b.pem"]
key = ["/a.key", "/b.key"]
profile = "opportunistic"
ticket_key_file = "/etc/t/keys"
ticket_rotation = "90m"

[[service]]
name = "x"
listen = "[::1]:0"
backend = "unix:/run/q \"quoted\".sock"
client = true
protocol = "smtp"
tls = "starttls"
starttls_policy = "may"
verify = "none"
sni = "mail.example.org"
close_timeout = 0

[[service]]
name = "mx"
listen = "127.0.0.1:0"
backend = "127.0.0.1:25"
protocol = "smtp"
tls = "starttls"
allow_xclient = true
early_talker = "hold"

[[service]]
name = "strict"
listen = "127.0.0.1:0"
backend = "127.0.0.1:1"
strict_sni = true
)",
                                   "/etc/t/t.toml");
    INFO(joined(loaded.errors));
    REQUIRE(loaded.config);
    round_trip(*loaded.config);
}
