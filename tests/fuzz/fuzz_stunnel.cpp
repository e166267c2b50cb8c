// libFuzzer target: the stunnel.conf front end. Input is the text of a stunnel.conf.
// Checks: no crash/sanitizer report; config xor errors (the loader's contract); and a config
// that loads prints (--print-toml) as TOML that loads again without errors, so migration never
// produces a file tlsgate itself refuses.
#include "tlsgate/config/stunnel_loader.hpp"
#include "tlsgate/config/toml_loader.hpp"
#include "tlsgate/config/toml_writer.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    // "include = /usr" would walk real directories: slow, and not what is being tested here
    // (the unit tests cover include).
    std::string lower(text);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (lower.find("include") != std::string::npos) {
        return 0;
    }
    // A directory that does not exist: "include =" finds nothing, paths stay unopened.
    auto loaded = tlsgate::config::load_stunnel_string(text, "/nonexistent-fuzz-dir/s.conf");
    const auto& r = loaded.result;
    if (r.config.has_value() != r.errors.empty()) {
        std::fprintf(stderr, "*** INVARIANT VIOLATED: config set=%d but %zu errors\n",
                     r.config.has_value() ? 1 : 0, r.errors.size());
        std::abort();
    }
    if (r.config) {
        const std::string toml = tlsgate::config::write_toml(*r.config, loaded.notes);
        auto again = tlsgate::config::load_toml_string(toml, "/nonexistent-fuzz-dir/t.toml");
        if (!again.errors.empty()) {
            std::fprintf(stderr, "*** INVARIANT VIOLATED: printed TOML does not load: %s\n%s\n",
                         again.errors.front().to_string().c_str(), toml.c_str());
            std::abort();
        }
    }
    return 0;
}
