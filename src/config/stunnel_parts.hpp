#pragma once

// The parts of the stunnel.conf front end (stunnel_loader.cpp: the sections onto the model;
// stunnel_lexer.cpp: the file as lines, include; stunnel_options.cpp: each option onto the
// model; stunnel_option_table.cpp: the option names). Private to src/config.
#include "tlsgate/config/stunnel_loader.hpp"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fmt/format.h>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace tlsgate::config::stunnel_conf {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// Text helpers

inline std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

inline std::string_view trim(std::string_view s) {
    const char* ws = " \t\r\n\f\v";
    size_t b = s.find_first_not_of(ws);
    if (b == std::string_view::npos) {
        return {};
    }
    size_t e = s.find_last_not_of(ws);
    return s.substr(b, e - b + 1);
}

inline std::optional<int64_t> parse_int(std::string_view text) {
    int64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size()) {
        return std::nullopt;
    }
    return v;
}

inline bool valid_service_name(std::string_view name) {
    return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == '-';
    });
}

// ---------------------------------------------------------------------------------------------
// Option names (stunnel 5.68), by what tlsgate does with them

enum class Kind {
    global,      // global section only
    service,     // a service option; in the global section a default for every service
    both,        // "debug": global log level, or a service's own
    ignored,     // meaningless here: accepted with a warning
    unsupported, // a stunnel feature tlsgate does not implement: an error
};

struct OptionSpec {
    std::string_view name; // stunnel's spelling, used in messages
    Kind kind;
    // unsupported: what to do instead, after "NAME is not supported by tlsgate: ".
    std::string_view advice = {};
};

// The option's entry by its lower-case name; null when stunnel has no such option.
const OptionSpec* find_spec(std::string_view lowered);
// Unsupported features switched off are simply what tlsgate does: no error for those.
bool is_harmless_default(std::string_view name, std::string_view lowered_value);
// "NAME is not supported by tlsgate: ADVICE".
std::string unsupported_message(const OptionSpec& spec);

// ---------------------------------------------------------------------------------------------
// The file as lines

struct Option {
    std::string name; // stunnel's spelling ("checkHost"), or as written when unknown
    const OptionSpec* spec = nullptr;
    std::string value;
    Location where;
};

struct Section {
    std::string name; // empty for the global section
    Location where;
    std::vector<Option> options;
};

// Per service while its options are applied.
struct ServiceState {
    Service svc;
    std::string prefix; // "service[NAME]"
    bool have_accept = false;
    // stunnel binds every accept line of a section; the model has one listen address per
    // service, so the second and later become copies of the service (NAME.2, ...).
    std::vector<std::pair<net::Address, Location>> extra_accepts;
    bool have_connect = false;
    bool connect_from_section = false;
    std::optional<Option> sni;
    bool verify_explicit = false;
    bool busy_explicit = false;
    // Options stunnel allows once per section in tlsgate's model (checkHost, ...): where the
    // first one in the current scope (global or section) was.
    std::map<std::string, Location> single_seen;
    // Options whose value was wrong: checks that depend on them are skipped, so one mistake
    // gives one error ("accept = 99999" is not also "missing accept").
    std::set<std::string> failed;
};

class StunnelLoader {
public:
    explicit StunnelLoader(const std::string& file_name) : file_(file_name) {
        std::error_code ec;
        fs::path p = file_name.empty() ? fs::path(".") : fs::path(file_name);
        fs::path abs = fs::absolute(p, ec);
        base_dir_ = (ec ? p : abs).parent_path();
    }

    StunnelLoad run(std::string_view text);

private:
    // Lexing
    void lex(std::string_view text, const std::string& file, int depth);
    void include(const Option& o, int depth);

    // Mapping
    void apply_global(const Option& o, Global& g, bool& compression);
    void apply_service(const Option& o, ServiceState& st, bool from_global);
    void apply_service_option(const Option& o, ServiceState& st, bool from_global);
    void finish_service(ServiceState& st);
    void expand_accepts(ServiceState& st, std::vector<Service>& services);
    void follow_parents_onto_every_accept(std::vector<Service>& services);

    void error(const Location& at, std::string key, std::string message) {
        add(errors_, at, std::move(key), std::move(message));
    }
    void warning(const Location& at, std::string key, std::string message) {
        add(warnings_, at, std::move(key), std::move(message));
    }
    void add(std::vector<ConfigError>& list, const Location& at, std::string key,
             std::string message) {
        ConfigError e{at, std::move(key), std::move(message)};
        if (seen_.insert(e.to_string()).second) {
            list.push_back(std::move(e));
        }
    }
    void note(std::string text) {
        if (std::find(notes_.begin(), notes_.end(), text) == notes_.end()) {
            notes_.push_back(std::move(text));
        }
    }

    std::optional<bool> yes_no(const Option& o, const std::string& key) {
        std::string v = lower(o.value);
        if (v == "yes") {
            return true;
        }
        if (v == "no") {
            return false;
        }
        error(o.where, key, fmt::format("expected yes or no, got \"{}\"", o.value));
        return std::nullopt;
    }
    std::optional<int64_t> number(const Option& o, const std::string& key, int64_t min,
                                  int64_t max) {
        auto v = parse_int(o.value);
        if (!v) {
            error(o.where, key, fmt::format("expected a number, got \"{}\"", o.value));
            return std::nullopt;
        }
        if (*v < min || *v > max) {
            error(o.where, key, fmt::format("{} is out of range {}..{}", *v, min, max));
            return std::nullopt;
        }
        return v;
    }
    std::optional<std::string> nonempty(const Option& o, const std::string& key) {
        if (o.value.empty()) {
            error(o.where, key, "must not be empty");
            return std::nullopt;
        }
        return o.value;
    }
    std::optional<std::string> path(const Option& o, const std::string& key) {
        if (o.value.empty()) {
            error(o.where, key, "path must not be empty");
            return std::nullopt;
        }
        fs::path p(o.value);
        if (p.is_relative()) {
            relative_paths_ = true;
            p = (base_dir_ / p).lexically_normal();
        }
        return p.string();
    }
    std::optional<net::Address> address(const Option& o, const std::string& key,
                                        std::string_view default_host);
    enum class Scope { global, section };
    std::optional<int> level(const Option& o, const std::string& key, Scope scope);
    std::optional<TlsVersion> version(const Option& o, const std::string& key, bool is_max);
    std::optional<std::string> hex_secret(const Option& o, const std::string& key);
    void single(ServiceState& st, const Option& o, const std::string& key) {
        auto [it, inserted] = st.single_seen.emplace(o.name, o.where);
        if (!inserted) {
            error(o.where, key,
                  fmt::format("tlsgate takes one {} per service (the first is at line {})", o.name,
                              it->second.line));
        }
    }

    std::string file_;
    fs::path base_dir_;
    std::vector<Section> sections_;
    std::vector<ConfigError> errors_;
    std::vector<ConfigError> warnings_;
    std::set<std::string> seen_;
    std::vector<std::string> notes_;
    bool relative_paths_ = false;
    bool include_failed_ = false;
    // Sections with several accept lines: how many copies each got.
    std::map<std::string, size_t> accept_copies_;
};

} // namespace tlsgate::config::stunnel_conf
