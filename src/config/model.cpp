#include "tlsgate/config/model.hpp"

#include <fmt/format.h>

namespace tlsgate::config {

std::string ConfigError::to_string() const {
    std::string out = where.file;
    if (where.line > 0) {
        out += fmt::format(":{}", where.line);
    }
    if (!key.empty()) {
        out += fmt::format(": {}", key);
    }
    out += fmt::format(": {}", message);
    return out;
}

namespace {

Location locate_in(const std::map<std::string, Location>& where, const Location& section,
                   const std::string& key_name) {
    auto it = where.find(key_name);
    return it != where.end() ? it->second : section;
}

} // namespace

Location TlsSettings::locate(const std::string& key_name) const {
    return locate_in(where, section, key_name);
}

Location Service::locate(const std::string& key_name) const {
    return locate_in(where, section, key_name);
}

const char* to_string(ConfigFormat f) {
    return f == ConfigFormat::toml ? "TOML" : "stunnel.conf";
}

const char* to_string(LogLevel v) {
    switch (v) {
    case LogLevel::debug:
        return "debug";
    case LogLevel::info:
        return "info";
    case LogLevel::notice:
        return "notice";
    case LogLevel::warning:
        return "warning";
    case LogLevel::error:
        return "error";
    }
    return "?";
}

const char* to_string(LogFormat v) {
    switch (v) {
    case LogFormat::text:
        return "text";
    case LogFormat::json:
        return "json";
    }
    return "?";
}

const char* to_string(LogTarget v) {
    switch (v) {
    case LogTarget::stderr_stream:
        return "stderr";
    case LogTarget::syslog:
        return "syslog";
    }
    return "?";
}

const char* to_string(TlsProfile v) {
    switch (v) {
    case TlsProfile::bettercrypto_b:
        return "bettercrypto-b";
    case TlsProfile::bettercrypto_a:
        return "bettercrypto-a";
    case TlsProfile::opportunistic:
        return "opportunistic";
    case TlsProfile::custom:
        return "custom";
    }
    return "?";
}

const char* to_string(Protocol v) {
    switch (v) {
    case Protocol::raw:
        return "raw";
    case Protocol::imap:
        return "imap";
    case Protocol::pop3:
        return "pop3";
    case Protocol::smtp:
        return "smtp";
    }
    return "?";
}

const char* to_string(TlsMode v) {
    switch (v) {
    case TlsMode::implicit:
        return "implicit";
    case TlsMode::starttls:
        return "starttls";
    }
    return "?";
}

const char* to_string(StarttlsPolicy v) {
    switch (v) {
    case StarttlsPolicy::may:
        return "may";
    case StarttlsPolicy::encrypt:
        return "encrypt";
    }
    return "?";
}

const char* to_string(EarlyTalker v) {
    switch (v) {
    case EarlyTalker::hold:
        return "hold";
    case EarlyTalker::reject:
        return "reject";
    }
    return "?";
}

const char* to_string(VerifyMode v) {
    switch (v) {
    case VerifyMode::peer:
        return "peer";
    case VerifyMode::none:
        return "none";
    }
    return "?";
}

const char* to_string(Failover v) {
    switch (v) {
    case Failover::prio:
        return "prio";
    case Failover::rr:
        return "rr";
    }
    return "?";
}

} // namespace tlsgate::config
