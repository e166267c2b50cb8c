#pragma once

// Helpers shared by the stunnel.conf front end's unit tests (test_stunnel_loader.cpp: the
// corpus and the loader; test_stunnel_options.cpp: option names and values as stunnel reads
// them).
#include "tlsgate/config/load.hpp"
#include "tlsgate/config/stunnel_loader.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace stunnel_test {

using namespace tlsgate::config;
using tlsgate::net::Address;

inline const std::string corpus = std::string(TLSGATE_TEST_DATA_DIR) + "/../stunnel";

inline std::string corpus_path(const std::string& rel) {
    return std::filesystem::path(corpus + "/" + rel).lexically_normal().string();
}

inline std::string joined(const std::vector<ConfigError>& errors) {
    std::string out;
    for (const auto& e : errors) {
        out += e.to_string() + "\n";
    }
    return out;
}

inline std::string all_notes(const std::vector<std::string>& notes) {
    std::string out;
    for (const auto& n : notes) {
        out += n + "\n";
    }
    return out;
}

// Loads a corpus file through the sniffing entry point, which must take it as stunnel.conf.
inline LoadedConfig load_corpus(const std::string& rel) {
    auto r = load_config_file(corpus_path(rel));
    CHECK(r.format == ConfigFormat::stunnel);
    return r;
}

inline const Config& ok(const LoadResult& r) {
    INFO(joined(r.errors));
    REQUIRE(r.errors.empty());
    REQUIRE(r.config.has_value());
    return *r.config;
}

inline const std::string file = "/srv/stunnel/t.conf";

inline StunnelLoad load(std::string_view text) {
    return load_stunnel_string(text, file);
}

inline std::string errors_of(std::string_view text) {
    auto r = load(text);
    CHECK_FALSE(r.result.config.has_value());
    return joined(r.result.errors);
}

inline const Service& service(const Config& c, const std::string& name) {
    auto it = std::find_if(c.services.begin(), c.services.end(),
                           [&](const Service& s) { return s.name == name; });
    REQUIRE(it != c.services.end());
    return *it;
}

inline Address tcp(const std::string& host, uint16_t port, bool is_ip) {
    Address a;
    a.host = host;
    a.port = port;
    a.host_is_ip = is_ip;
    return a;
}

inline const std::string head = "foreground = yes\ncert = /c.pem\n"; // lines 1-2

} // namespace stunnel_test
