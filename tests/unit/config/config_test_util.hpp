#pragma once

// What the config unit tests share: errors as text, and loading TOML text that must work or
// must fail.
#include "tlsgate/config/toml_loader.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace tlsgate::test {

// Every error as text, one per line.
inline std::string joined(const std::vector<config::ConfigError>& errors) {
    std::string out;
    for (const auto& e : errors) {
        out += e.to_string() + "\n";
    }
    return out;
}

// The model of a load that must have worked (the errors are shown when it did not).
inline const config::Config& ok(const config::LoadResult& r) {
    INFO(joined(r.errors));
    REQUIRE(r.errors.empty());
    REQUIRE(r.config.has_value());
    return *r.config;
}

// TOML text as if read from this file.
inline const std::string toml_file = "/srv/conf/t.toml";

inline config::LoadResult load_toml(std::string_view text) {
    return config::load_toml_string(text, toml_file);
}

// Loads `text`, expects it to fail, and returns every error as text (one per line).
inline std::string toml_errors_of(std::string_view text) {
    auto r = load_toml(text);
    CHECK_FALSE(r.config.has_value());
    CHECK_FALSE(r.errors.empty());
    return joined(r.errors);
}

// Lines 1-3; services start at line 4.
inline const std::string tls_head = "[tls]\ncert = \"/c.pem\"\nkey = \"/k.pem\"\n";

} // namespace tlsgate::test
