#pragma once

// Reading typed values out of a parsed TOML document, for the TOML front end and its key
// tables (src/config/key_table.cpp). Every accessor reports its problem as a config error at
// the value's line and returns nullopt; errors and warnings are collected here, each once.
#include "tlsgate/config/model.hpp"

#include <filesystem>
#include <fmt/format.h>
#include <limits>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <toml++/toml.h>
#include <vector>

namespace tlsgate::config {

// "10", "10s", "500ms", "30m", "12h", "1d": the duration, or why the text is not one.
Result<Duration> parse_duration_detail(std::string_view text);

// One allowed value of an enumeration key and its TOML spelling.
template <class E> struct Choice {
    std::string_view name;
    E value;
};

// The candidate closest to `name` by edit distance, when close enough to be a likely typo
// ("worker" -> "workers"); empty otherwise.
std::string_view closest_name(std::string_view name, std::span<const std::string_view> candidates);

// The key a TOML syntax error at `line` (1-based) of `text` is about, labelled as the loader
// labels keys ("global.workers", "tls.cert", "service[imaps].listen", "service[#2].x"),
// read from the text because the document did not parse: the "KEY =" that starts the line
// and the table header above it. Empty when the line does not start with a key.
std::string key_at_line(std::string_view text, int line);

const char* type_name(const toml::node& n);
int line_of(const toml::node& n);

class TomlReader {
public:
    // Relative paths resolve against the directory of `file_name`.
    explicit TomlReader(const std::string& file_name);

    const std::string& file() const { return file_; }
    Location loc(const toml::node& n) const { return Location{file_, line_of(n)}; }

    void error(int line, std::string key, std::string message) {
        add(errors_, line, std::move(key), std::move(message));
    }
    void add(std::vector<ConfigError>& list, int line, std::string key, std::string message) {
        ConfigError e{Location{file_, line}, std::move(key), std::move(message)};
        if (seen_.insert(e.to_string()).second) {
            list.push_back(std::move(e));
        }
    }
    void warning(int line, std::string key, std::string message) {
        add(warnings_, line, std::move(key), std::move(message));
    }

    void type_error(const toml::node& n, const std::string& key, std::string_view expected) {
        error(line_of(n), key, fmt::format("expected {}, got {}", expected, type_name(n)));
    }
    // `known`: the keys allowed where this one stands, for a "did you mean".
    void unknown_key(const toml::key& k, const toml::node& v, const std::string& key,
                     std::span<const std::string_view> known) {
        const std::string_view guess = closest_name(k.str(), known);
        error(line_of(v), key,
              guess.empty()
                  ? fmt::format("unknown key \"{}\"", k.str())
                  : fmt::format("unknown key \"{}\"; did you mean \"{}\"?", k.str(), guess));
    }

    // Typed accessors: report and return nullopt on any problem.
    std::optional<std::string> get_string(const toml::node& n, const std::string& key) {
        if (const auto* s = n.as_string()) {
            return s->get();
        }
        type_error(n, key, "a string");
        return std::nullopt;
    }
    std::optional<std::string> get_nonempty(const toml::node& n, const std::string& key) {
        auto s = get_string(n, key);
        if (s && s->empty()) {
            error(line_of(n), key, "must not be empty");
            return std::nullopt;
        }
        return s;
    }
    std::optional<bool> get_bool(const toml::node& n, const std::string& key) {
        if (const auto* b = n.as_boolean()) {
            return b->get();
        }
        type_error(n, key, "a boolean (true or false)");
        return std::nullopt;
    }
    std::optional<int64_t> get_int(const toml::node& n, const std::string& key, int64_t min,
                                   int64_t max) {
        const auto* i = n.as_integer();
        if (!i) {
            type_error(n, key, "an integer");
            return std::nullopt;
        }
        int64_t v = i->get();
        if (v < min || v > max) {
            error(line_of(n), key, fmt::format("{} is out of range {}..{}", v, min, max));
            return std::nullopt;
        }
        return v;
    }
    // Timeouts must be positive, except where zero means "do not wait" (close_timeout, as
    // stunnel's TIMEOUTclose = 0).
    std::optional<Duration> get_timeout(const toml::node& n, const std::string& key,
                                        bool allow_zero = false) {
        Result<Duration> r = Duration(0);
        if (const auto* i = n.as_integer()) {
            int64_t v = i->get();
            if (v < 0) {
                r = Error{fmt::format("negative duration {}", v)};
            } else if (v > std::numeric_limits<Duration::rep>::max() / 1000) {
                r = Error{fmt::format("duration {} is too large", v)};
            } else {
                r = Duration(v * 1000);
            }
        } else if (const auto* s = n.as_string()) {
            r = parse_duration_detail(s->get());
        } else {
            type_error(n, key, "a duration (integer seconds or a string like \"10s\")");
            return std::nullopt;
        }
        if (!r) {
            error(line_of(n), key, r.error().message);
            return std::nullopt;
        }
        Duration d = *r;
        if (d.count() == 0 && !allow_zero) {
            error(line_of(n), key, "timeout must be greater than zero");
            return std::nullopt;
        }
        return d;
    }
    template <class E>
    std::optional<E> get_enum(const toml::node& n, const std::string& key,
                              std::span<const Choice<E>> choices) {
        auto s = get_string(n, key);
        if (!s) {
            return std::nullopt;
        }
        for (const auto& c : choices) {
            if (c.name == *s) {
                return c.value;
            }
        }
        std::string allowed;
        for (const auto& c : choices) {
            allowed += fmt::format("{}\"{}\"", allowed.empty() ? "" : ", ", c.name);
        }
        error(line_of(n), key,
              fmt::format("invalid value \"{}\"; allowed values: {}", *s, allowed));
        return std::nullopt;
    }
    std::optional<std::string> resolve_path(const toml::node& n, const std::string& key,
                                            const std::string& s) {
        if (s.empty()) {
            error(line_of(n), key, "path must not be empty");
            return std::nullopt;
        }
        if (s.find('\0') != std::string::npos) {
            error(line_of(n), key, "path contains a NUL byte");
            return std::nullopt;
        }
        std::filesystem::path p(s);
        if (p.is_relative()) {
            p = (base_dir_ / p).lexically_normal();
        }
        return p.string();
    }
    std::optional<std::string> get_path(const toml::node& n, const std::string& key) {
        auto s = get_string(n, key);
        return s ? resolve_path(n, key, *s) : std::nullopt;
    }
    // A string or an array of strings, each a path.
    std::optional<std::vector<std::string>> get_path_list(const toml::node& n,
                                                          const std::string& key) {
        std::vector<std::string> out;
        if (const auto* s = n.as_string()) {
            auto p = resolve_path(n, key, s->get());
            if (!p) {
                return std::nullopt;
            }
            out.push_back(*p);
            return out;
        }
        const auto* arr = n.as_array();
        if (!arr) {
            type_error(n, key, "a string or an array of strings");
            return std::nullopt;
        }
        bool ok = true;
        for (size_t i = 0; i < arr->size(); ++i) {
            const toml::node& el = *arr->get(i);
            const auto* s = el.as_string();
            if (!s) {
                error(line_of(el), key,
                      fmt::format("element {}: expected a string, got {}", i + 1, type_name(el)));
                ok = false;
                continue;
            }
            auto p = resolve_path(el, key, s->get());
            if (!p) {
                ok = false;
                continue;
            }
            out.push_back(*p);
        }
        if (!ok) {
            return std::nullopt;
        }
        return out;
    }
    // A string or an array of strings.
    std::optional<std::vector<std::string>> get_string_list(const toml::node& n,
                                                            const std::string& key) {
        if (const auto* s = n.as_string()) {
            return std::vector<std::string>{s->get()};
        }
        const auto* arr = n.as_array();
        if (!arr) {
            type_error(n, key, "a string or an array of strings");
            return std::nullopt;
        }
        std::vector<std::string> out;
        bool ok = true;
        for (size_t i = 0; i < arr->size(); ++i) {
            const toml::node& el = *arr->get(i);
            if (const auto* s = el.as_string()) {
                out.push_back(s->get());
            } else {
                error(line_of(el), key,
                      fmt::format("element {}: expected a string, got {}", i + 1, type_name(el)));
                ok = false;
            }
        }
        return ok ? std::optional(std::move(out)) : std::nullopt;
    }
    std::optional<net::Address> get_address(const toml::node& n, const std::string& key,
                                            bool allow_port_zero) {
        auto s = get_string(n, key);
        if (!s) {
            return std::nullopt;
        }
        auto r = net::parse_address(*s, allow_port_zero);
        if (!r) {
            error(line_of(n), key, r.error().message);
            return std::nullopt;
        }
        return std::move(*r);
    }

protected:
    std::string file_;
    std::filesystem::path base_dir_;
    std::vector<ConfigError> errors_;
    std::vector<ConfigError> warnings_;
    std::set<std::string> seen_;
};

} // namespace tlsgate::config
