#include "tlsgate/config/toml_writer.hpp"

#include <fmt/format.h>
#include <openssl/ssl.h>

namespace tlsgate::config {

namespace {

// A TOML basic string.
std::string quote(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        switch (c) {
        case '"':
            out += "\\\"";
            break;
        case '\\':
            out += "\\\\";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\t':
            out += "\\t";
            break;
        case '\r':
            out += "\\r";
            break;
        default:
            if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
                out += fmt::format("\\u{:04X}", static_cast<unsigned char>(c));
            } else {
                out += c;
            }
        }
    }
    return out + "\"";
}

std::string list(const std::vector<std::string>& items) {
    std::string out = "[";
    for (size_t i = 0; i < items.size(); ++i) {
        out += (i ? ", " : "") + quote(items[i]);
    }
    return out + "]";
}

// In the largest unit that holds it exactly ("12h", "90s", "250ms"): parse_duration reads each
// back to the same value.
std::string duration(Duration d) {
    const int64_t ms = d.count();
    if (ms != 0 && ms % 3600000 == 0) {
        return quote(fmt::format("{}h", ms / 3600000));
    }
    if (ms != 0 && ms % 60000 == 0) {
        return quote(fmt::format("{}m", ms / 60000));
    }
    return ms % 1000 == 0 ? quote(fmt::format("{}s", ms / 1000)) : quote(fmt::format("{}ms", ms));
}

const char* boolean(bool b) {
    return b ? "true" : "false";
}

const char* version(TlsVersion v) {
    switch (v) {
    case TLS1_VERSION:
        return "TLSv1";
    case TLS1_1_VERSION:
        return "TLSv1.1";
    case TLS1_2_VERSION:
        return "TLSv1.2";
    case TLS1_3_VERSION:
        return "TLSv1.3";
    }
    return "?";
}

class Writer {
public:
    void line(std::string_view key, std::string_view value) {
        out_ += fmt::format("{} = {}\n", key, value);
    }
    void optional(std::string_view key, const std::optional<std::string>& value) {
        if (value) {
            line(key, quote(*value));
        }
    }
    void raw(std::string_view text) { out_ += text; }
    std::string take() { return std::move(out_); }

private:
    std::string out_;
};

void write_tls(Writer& w, const TlsSettings& t) {
    w.line("cert", list(t.cert));
    w.line("key", list(t.key));
    w.line("profile", quote(to_string(t.profile)));
    w.optional("ciphers", t.ciphers);
    w.optional("ciphersuites", t.ciphersuites);
    if (t.min_version != 0) {
        w.line("min_version", quote(version(t.min_version)));
    }
    if (t.max_version != 0) {
        w.line("max_version", quote(version(t.max_version)));
    }
    w.optional("groups", t.groups);
    w.optional("dhparam", t.dhparam);
    w.optional("ca_file", t.ca_file);
    w.optional("ca_path", t.ca_path);
    w.optional("check_host", t.check_host);
    w.optional("sni", t.sni);
    // The four switches, not the derived "verify", so nothing is re-derived on the way back.
    w.line("request_cert", boolean(t.request_cert));
    w.line("require_cert", boolean(t.require_cert));
    w.line("verify_chain", boolean(t.verify_chain));
    w.line("verify_peer", boolean(t.verify_peer));
    w.optional("check_ip", t.check_ip);
    w.optional("check_email", t.check_email);
    w.optional("crl_file", t.crl_file);
    w.optional("crl_path", t.crl_path);
    std::vector<std::string> options = t.options_set;
    for (const auto& o : t.options_clear) {
        options.push_back("-" + o);
    }
    if (!options.empty()) {
        w.line("options", list(options));
    }
    if (t.security_level) {
        w.line("security_level", fmt::format("{}", *t.security_level));
    }
    w.line("renegotiation", boolean(t.renegotiation));
    w.line("compression", boolean(t.compression));
    w.line("tickets", boolean(t.tickets));
    w.optional("ticket_key_file", t.ticket_key_file);
    w.line("ticket_rotation", duration(t.ticket_rotation));
    w.optional("ticket_key_secret", t.ticket_key_secret);
    w.optional("ticket_mac_secret", t.ticket_mac_secret);
    w.line("session_cache", boolean(t.session_cache));
    w.line("session_cache_size", fmt::format("{}", t.session_cache_size));
    w.line("session_cache_timeout", duration(t.session_cache_timeout));
    w.line("session_resume", boolean(t.session_resume));
}

void write_service(Writer& w, const Service& s) {
    w.raw("\n[[service]]\n");
    w.line("name", quote(s.name));
    if (!s.inetd && !s.sni_parent) {
        w.line("listen", quote(s.listen.to_string()));
    }
    if (s.exec) {
        w.line("exec", quote(*s.exec));
        w.line("exec_args", list(s.exec_args));
    } else {
        std::vector<std::string> backends;
        for (const auto& b : s.backends) {
            backends.push_back(b.to_string());
        }
        w.line("backend", list(backends));
    }
    w.line("failover", quote(to_string(s.failover)));
    w.line("retry", boolean(s.retry));
    w.line("inetd", boolean(s.inetd));
    w.line("proxy_header", boolean(s.proxy_header));
    w.optional("local", s.local);
    w.line("resolve_at_start", boolean(s.resolve_at_start));
    w.line("reset", boolean(s.reset));
    if (!s.socket_options.empty()) {
        std::vector<std::string> options;
        for (const auto& o : s.socket_options) {
            options.push_back(fmt::format("{}:{}={}", o.side, o.name, o.value));
        }
        w.line("socket_options", list(options));
    }
    w.optional("sni_parent", s.sni_parent);
    w.optional("sni_pattern", s.sni_pattern);
    w.line("strict_sni", boolean(s.strict_sni));
    if (s.log_level) {
        w.line("log_level", quote(to_string(*s.log_level)));
    }
    w.line("protocol", quote(to_string(s.protocol)));
    w.line("tls", quote(to_string(s.tls_mode)));
    w.line("client", boolean(s.client));
    w.line("starttls_policy", quote(to_string(s.starttls_policy)));
    w.line("auth_requires_tls", boolean(s.auth_requires_tls));
    if ((s.protocol == Protocol::smtp || s.protocol == Protocol::pop3) && !s.client) {
        w.line("allow_xclient", boolean(s.allow_xclient));
    }
    if (s.protocol == Protocol::smtp && !s.client) {
        w.line("early_talker", quote(to_string(s.early_talker)));
    }
    w.line("handshake_timeout", duration(s.handshake_timeout));
    w.line("connect_timeout", duration(s.connect_timeout));
    w.line("idle_timeout", duration(s.idle_timeout));
    w.line("plaintext_timeout", duration(s.plaintext_timeout));
    w.line("close_timeout", duration(s.close_timeout));
    w.line("max_errors", fmt::format("{}", s.max_errors));
    w.line("max_line", fmt::format("{}", s.max_line));
    write_tls(w, s.tls);
}

} // namespace

std::string write_toml(const Config& config, const std::vector<std::string>& notes) {
    Writer w;
    if (!config.source_file.empty()) {
        w.raw(fmt::format("# tlsgate configuration written from {}\n", config.source_file));
    }
    for (const auto& n : notes) {
        w.raw(fmt::format("# note: {}\n", n));
    }
    const Global& g = config.global;
    w.raw("\n[global]\n");
    w.line("workers", fmt::format("{}", g.workers));
    w.line("log_level", quote(to_string(g.log_level)));
    w.line("log", quote(to_string(g.log_target)));
    w.line("drain_timeout", duration(g.drain_timeout));
    w.line("daemon", boolean(g.daemon));
    w.optional("pid_file", g.pid_file);
    w.optional("user", g.user);
    w.optional("group", g.group);
    w.optional("chroot", g.chroot);
    w.optional("log_file", g.log_file);
    w.line("log_append", boolean(g.log_append));
    w.line("syslog_ident", quote(g.syslog_ident));
    w.line("fips", boolean(g.fips));
    for (const auto& s : config.services) {
        write_service(w, s);
    }
    return w.take();
}

} // namespace tlsgate::config
