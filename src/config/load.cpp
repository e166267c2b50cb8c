#include "tlsgate/config/load.hpp"

#include "tlsgate/config/read_file.hpp"
#include "tlsgate/config/stunnel_loader.hpp"
#include "tlsgate/config/toml_loader.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

namespace tlsgate::config {

namespace {

std::string_view trim(std::string_view s) {
    const char* ws = " \t\r\n";
    size_t b = s.find_first_not_of(ws);
    if (b == std::string_view::npos) {
        return {};
    }
    return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

bool is_number(std::string_view v) {
    return !v.empty() && v.find_first_not_of("0123456789") == std::string_view::npos;
}

// Reads a descriptor to its end; returns 0 or an errno value.
LoadedConfig read_failure(const std::string& name, int err) {
    LoadedConfig out;
    out.result.errors.push_back(ConfigError{
        Location{name, 0}, "", fmt::format("cannot read file: {}", std::strerror(err))});
    return out;
}

} // namespace

ConfigFormat sniff_format(std::string_view text) {
    if (text.starts_with("\xEF\xBB\xBF")) {
        text.remove_prefix(3); // a byte order mark: only Windows editors (stunnel users) write it
    }
    int toml = 0, stunnel = 0;
    while (!text.empty()) {
        size_t nl = text.find('\n');
        std::string_view line = trim(text.substr(0, nl));
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
        if (line.empty() || line.front() == '#') {
            continue; // both formats have '#' comments
        }
        if (line.front() == ';') {
            ++stunnel; // TOML has no ';' comments
            continue;
        }
        if (line.starts_with("[[")) {
            ++toml;
            continue;
        }
        if (line.front() == '[') {
            // TOML's only single-bracket tables are [global] and [tls]; any other name is a
            // stunnel service section.
            if (line != "[global]" && line != "[tls]") {
                ++stunnel;
            }
            continue;
        }
        size_t eq = line.find('=');
        if (eq == std::string_view::npos) {
            continue; // a TOML multi-line array's continuation, or a stunnel syntax error
        }
        std::string_view v = trim(line.substr(eq + 1));
        if (v.empty()) {
            ++stunnel; // "pid =" is stunnel; TOML needs a value
        } else if (v.front() == '"' || v.front() == '\'' || v.front() == '[' || v.front() == '{' ||
                   v == "true" || v == "false") {
            ++toml;
        } else if (!is_number(v)) {
            ++stunnel; // a bare word or path: "client = yes", "cert = /etc/x.pem"
        }
    }
    return stunnel > toml ? ConfigFormat::stunnel : ConfigFormat::toml;
}

LoadedConfig load_config_string(std::string_view text, const std::string& name,
                                ConfigFormat forced) {
    LoadedConfig out;
    out.format = forced;
    if (forced == ConfigFormat::toml) {
        out.result = load_toml_string(text, name);
    } else {
        StunnelLoad s = load_stunnel_string(text, name);
        out.result = std::move(s.result);
        out.notes = std::move(s.notes);
    }
    return out;
}

LoadedConfig load_config_string(std::string_view text, const std::string& name) {
    return load_config_string(text, name, sniff_format(text));
}

LoadedConfig load_config_file(const std::string& path) {
    std::string text;
    if (int err = read_whole_file(path, text)) {
        return read_failure(path, err);
    }
    return load_config_string(text, path);
}

LoadedConfig load_stunnel_config_file(const std::string& path) {
    std::string text;
    if (int err = read_whole_file(path, text)) {
        return read_failure(path, err);
    }
    return load_config_string(text, path, ConfigFormat::stunnel);
}

LoadedConfig load_config_fd(int fd) {
    const std::string name = fmt::format("fd:{}", fd);
    std::string text;
    if (int err = read_all(fd, text)) {
        return read_failure(name, err);
    }
    return load_config_string(text, name);
}

} // namespace tlsgate::config
