// Each stunnel.conf option onto the model, with stunnel's value syntax and tlsgate's messages.
#include "stunnel_parts.hpp"
#include "tlsgate/tls/ssl_options.hpp"

#include <openssl/ssl.h>

namespace tlsgate::config::stunnel_conf {

using std::chrono::seconds;

namespace {

struct LevelName {
    std::string_view name;
    int value;
};
// stunnel's names, compared case-insensitively as stunnel does (no "error" or "warn").
constexpr LevelName syslog_levels[] = {{"emerg", 0},   {"alert", 1},  {"crit", 2}, {"err", 3},
                                       {"warning", 4}, {"notice", 5}, {"info", 6}, {"debug", 7}};
// The syslog facilities stunnel knows on Linux.
constexpr std::string_view syslog_facilities[] = {
    "auth",   "cron",   "daemon", "kern",   "lpr",      "mail",   "news",
    "syslog", "user",   "uucp",   "local0", "local1",   "local2", "local3",
    "local4", "local5", "local6", "local7", "authpriv", "ftp"};

LogLevel to_log_level(int syslog_level) {
    switch (syslog_level) {
    case 7:
        return LogLevel::debug;
    case 6:
        return LogLevel::info;
    case 5:
        return LogLevel::notice;
    case 4:
        return LogLevel::warning;
    default:
        return LogLevel::error;
    }
}

struct VersionName {
    std::string_view name; // lower case
    TlsVersion value;
};
// stunnel's names (there is no "TLSv1.0"), compared case-insensitively.
constexpr VersionName stunnel_versions[] = {{"tlsv1", TLS1_VERSION},
                                            {"tlsv1.1", TLS1_1_VERSION},
                                            {"tlsv1.2", TLS1_2_VERSION},
                                            {"tlsv1.3", TLS1_3_VERSION}};

// stunnel's other protocols (src/protocol.c), each with what to do instead.
struct ProtocolAdvice {
    std::string_view name; // lower case
    std::string_view advice;
};
constexpr ProtocolAdvice unsupported_protocols[] = {
    {"nntp", "no NNTP STARTTLS; offer NNTPS (implicit TLS, port 563): the same section without "
             "protocol"},
    {"ldap", "no LDAP StartTLS; offer LDAPS (implicit TLS, port 636): the same section without "
             "protocol, or let slapd do StartTLS itself"},
    {"pgsql", "no PostgreSQL SSLRequest; let PostgreSQL do TLS itself (ssl = on in "
              "postgresql.conf)"},
    {"connect", "no HTTP CONNECT through a web proxy; connect to the server directly (connect = "
                "HOST:PORT), or tunnel with a proxy-aware tool (e.g. proxytunnel) in front"},
    {"socks", "no SOCKS server; run a SOCKS server (e.g. dante-server) behind a plain section"},
    {"cifs", "CIFS/SMB-over-TLS (an early 2000s hack) is not implemented; use SMB 3 encryption "
             "(smb encrypt = required in smb.conf)"},
    {"capwin", "CapWIN is not implemented; remove the section"},
    {"capwinctrl", "CapWIN is not implemented; remove the section"},
};

std::optional<std::string_view> unsupported_protocol_advice(std::string_view lowered) {
    for (const auto& p : unsupported_protocols) {
        if (p.name == lowered) {
            return p.advice;
        }
    }
    return std::nullopt;
}

} // namespace

std::optional<net::Address> StunnelLoader::address(const Option& o, const std::string& key,
                                                   std::string_view default_host) {
    std::string_view v = o.value;
    std::string text;
    if (v.starts_with("/")) { // stunnel: a unix socket path
        text = fmt::format("unix:{}", v);
    } else if (v.starts_with("unix:")) {
        text = std::string(v);
    } else {
        // stunnel splits at the last colon: "993", "127.0.0.1:993", ":::993" (all of IPv6).
        size_t colon = v.rfind(':');
        std::string_view host = colon == std::string_view::npos ? "" : v.substr(0, colon);
        std::string_view port = colon == std::string_view::npos ? v : v.substr(colon + 1);
        if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
            host = host.substr(1, host.size() - 2);
        }
        if (host.empty()) {
            host = default_host;
        }
        text = host.find(':') != std::string_view::npos ? fmt::format("[{}]:{}", host, port)
                                                        : fmt::format("{}:{}", host, port);
    }
    auto r = net::parse_address(text, true);
    if (!r) {
        error(o.where, key, r.error().message);
        return std::nullopt;
    }
    return std::move(*r);
}

// "[FACILITY.]LEVEL" as stunnel reads it: LEVEL one digit 0..7 or a syslog level name, any
// letter case; FACILITY only in the global section.
std::optional<int> StunnelLoader::level(const Option& o, const std::string& key, Scope scope) {
    std::string v = lower(o.value);
    size_t dot = v.find('.');
    if (dot != std::string::npos) {
        if (scope != Scope::global) {
            error(o.where, key,
                  fmt::format("a syslog facility can only be set in the global section; write "
                              "debug = {} here",
                              o.value.substr(dot + 1)));
            return std::nullopt;
        }
        std::string facility = v.substr(0, dot);
        if (std::find(std::begin(syslog_facilities), std::end(syslog_facilities), facility) ==
            std::end(syslog_facilities)) {
            error(o.where, key,
                  fmt::format("unknown syslog facility \"{}\" (expected daemon, mail, auth, "
                              "authpriv, user, local0..local7, ...)",
                              o.value.substr(0, dot)));
            return std::nullopt;
        }
        if (facility != "daemon") {
            note(fmt::format("{}: syslog facility \"{}\" is not used: tlsgate logs to the daemon "
                             "facility",
                             key, facility));
        }
        v = v.substr(dot + 1);
    }
    if (v.size() == 1 && v[0] >= '0' && v[0] <= '7') {
        return v[0] - '0';
    }
    for (const auto& l : syslog_levels) {
        if (l.name == v) {
            return l.value;
        }
    }
    error(o.where, key,
          fmt::format("invalid level \"{}\": expected 0..7 or emerg, alert, crit, err, warning, "
                      "notice, info, debug",
                      o.value));
    return std::nullopt;
}

std::optional<TlsVersion> StunnelLoader::version(const Option& o, const std::string& key,
                                                 bool is_max) {
    std::string v = lower(o.value);
    if (v == "all") {
        // "all": up to the newest (0 = OpenSSL's maximum) or down to the oldest OpenSSL here.
        return is_max ? 0 : TLS1_VERSION;
    }
    if (v == "sslv2" || v == "sslv3") {
        error(o.where, key,
              fmt::format("{} is not supported (broken; OpenSSL 3 has no {})", o.value, o.value));
        return std::nullopt;
    }
    for (const auto& n : stunnel_versions) {
        if (n.name == v) {
            return n.value;
        }
    }
    error(o.where, key,
          fmt::format("invalid version \"{}\": expected all, TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3",
                      o.value));
    return std::nullopt;
}

// 16 or 32 bytes as hex, colons allowed between bytes (stunnel's format); stored without them.
std::optional<std::string> StunnelLoader::hex_secret(const Option& o, const std::string& key) {
    std::string hex;
    for (char c : o.value) {
        if (c != ':') {
            hex.push_back(c);
        }
    }
    bool ok = (hex.size() == 32 || hex.size() == 64) &&
              std::all_of(hex.begin(), hex.end(), [](char c) { return std::isxdigit(uint8_t(c)); });
    if (!ok) {
        error(o.where, key, "expected 16 or 32 bytes as hexadecimal digits");
        return std::nullopt;
    }
    return hex;
}

void StunnelLoader::apply_global(const Option& o, Global& g, bool& compression) {
    const std::string key = "global." + o.name;
    const std::string& n = o.name;
    auto mark = [&](const char* model_key) { g.where[model_key] = o.where; };
    if (n == "chroot") {
        if (auto p = path(o, key)) {
            g.chroot = *p;
            mark("chroot");
        }
    } else if (n == "compression") {
        std::string v = lower(o.value);
        if (v == "zlib" || v == "deflate") {
            compression = true;
            warning(o.where, key,
                    "compression turns on TLS compression for every service, which leaks "
                    "secrets through compressed lengths (CRIME); remove it unless you must");
        } else {
            error(o.where, key, fmt::format("expected zlib or deflate, got \"{}\"", o.value));
        }
    } else if (n == "fips") {
        if (auto b = yes_no(o, key)) {
            g.fips = *b;
            mark("fips");
        }
    } else if (n == "log") {
        std::string v = lower(o.value);
        if (v == "append" || v == "overwrite") {
            g.log_append = v == "append";
            mark("log_append");
        } else {
            error(o.where, key, fmt::format("expected append or overwrite, got \"{}\"", o.value));
        }
    } else if (n == "output") {
        if (auto p = path(o, key)) {
            g.log_file = *p;
            mark("log_file");
        }
    } else if (n == "pid") {
        // An empty value means no pid file, as in stunnel.
        if (o.value.empty()) {
            g.pid_file.reset();
        } else if (auto p = path(o, key)) {
            g.pid_file = *p;
        }
        mark("pid_file");
    } else if (n == "service") {
        if (auto s = nonempty(o, key)) {
            g.syslog_ident = *s;
            mark("syslog_ident");
        }
    } else if (n == "setuid" || n == "setgid") {
        if (auto s = nonempty(o, key)) {
            (n == "setuid" ? g.user : g.group) = *s;
            mark(n == "setuid" ? "user" : "group");
        }
    } else if (n == "debug") {
        if (auto l = level(o, key, Scope::global)) {
            g.log_level = to_log_level(*l);
            mark("log_level");
        }
    }
    // foreground and syslog are read together in run().
}

void StunnelLoader::apply_service(const Option& o, ServiceState& st, bool from_global) {
    const size_t errors_before = errors_.size();
    apply_service_option(o, st, from_global);
    if (errors_.size() != errors_before) {
        st.failed.insert(o.name);
    }
}

void StunnelLoader::apply_service_option(const Option& o, ServiceState& st, bool from_global) {
    const std::string key = (from_global ? std::string("global") : st.prefix) + "." + o.name;
    const std::string& n = o.name;
    Service& svc = st.svc;
    TlsSettings& tls = svc.tls;
    auto mark = [&](const char* model_key) { svc.where[model_key] = o.where; };
    auto mark_tls = [&](const char* model_key) { tls.where[model_key] = o.where; };

    if (n == "accept") {
        if (!from_global && st.single_seen.count("accept")) {
            if (auto a = address(o, key, "0.0.0.0")) {
                st.extra_accepts.emplace_back(*a, o.where);
            }
            return;
        }
        single(st, o, key);
        if (auto a = address(o, key, "0.0.0.0")) {
            svc.listen = *a;
            st.have_accept = true;
            mark("listen");
        }
    } else if (n == "connect") {
        // Repeatable. The section's own connect lines replace those inherited from the global
        // section.
        if (!from_global && !st.connect_from_section) {
            svc.backends.clear();
            svc.where.erase("backend");
            st.connect_from_section = true;
        }
        if (auto a = address(o, key, "localhost")) {
            svc.backends.push_back(*a);
            if (!svc.where.count("backend")) {
                mark("backend");
            }
        }
        st.have_connect = true;
    } else if (n == "failover") {
        std::string v = lower(o.value);
        if (v == "rr" || v == "prio") {
            svc.failover = v == "rr" ? Failover::rr : Failover::prio;
            mark("failover");
        } else {
            error(o.where, key, fmt::format("expected rr or prio, got \"{}\"", o.value));
        }
    } else if (n == "client") {
        if (auto b = yes_no(o, key)) {
            svc.client = *b;
            mark("client");
        }
    } else if (n == "protocol") {
        std::string v = lower(o.value);
        if (v == "imap" || v == "pop3" || v == "smtp") {
            svc.protocol = v == "imap"   ? Protocol::imap
                           : v == "pop3" ? Protocol::pop3
                                         : Protocol::smtp;
            svc.tls_mode = TlsMode::starttls;
            svc.proxy_header = false;
            mark("protocol");
            mark("tls");
        } else if (v == "proxy") {
            svc.proxy_header = true;
            mark("proxy_header");
        } else if (auto advice = unsupported_protocol_advice(v)) {
            error(o.where, key,
                  fmt::format("protocol \"{}\" is not supported by tlsgate (supported: imap, pop3, "
                              "smtp, proxy): {}",
                              o.value, *advice));
        } else {
            error(o.where, key,
                  fmt::format("protocol \"{}\" is not a stunnel protocol (tlsgate supports imap, "
                              "pop3, smtp and proxy)",
                              o.value));
        }
    } else if (n == "cert" || n == "key") {
        if (auto p = path(o, key)) {
            (n == "cert" ? tls.cert : tls.key) = std::vector<std::string>{*p};
            mark_tls(n == "cert" ? "cert" : "key");
        }
    } else if (n == "CAfile" || n == "CApath" || n == "CRLfile" || n == "CRLpath") {
        if (auto p = path(o, key)) {
            (n == "CAfile"    ? tls.ca_file
             : n == "CApath"  ? tls.ca_path
             : n == "CRLfile" ? tls.crl_file
                              : tls.crl_path) = *p;
            mark_tls(n == "CAfile"    ? "ca_file"
                     : n == "CApath"  ? "ca_path"
                     : n == "CRLfile" ? "crl_file"
                                      : "crl_path");
        }
    } else if (n == "verify") {
        // As stunnel's verify levels: every level requests a certificate; 1 checks the chain
        // when there is one, 2 requires it, 3 also needs the peer certificate itself in
        // CAfile/CApath, 4 checks only that (not the chain).
        if (auto l = number(o, key, 0, 4)) {
            tls.request_cert = true;
            tls.require_cert = *l >= 2;
            tls.verify_chain = *l >= 1 && *l <= 3;
            tls.verify_peer = *l >= 3;
            st.verify_explicit = true;
            for (const char* k : {"request_cert", "require_cert", "verify_chain", "verify_peer"}) {
                mark_tls(k);
            }
        }
    } else if (n == "verifyChain" || n == "verifyPeer") {
        // Either implies requireCert = yes, as stunnel.
        if (auto b = yes_no(o, key)) {
            (n == "verifyChain" ? tls.verify_chain : tls.verify_peer) = *b;
            mark_tls(n == "verifyChain" ? "verify_chain" : "verify_peer");
            if (*b) {
                tls.request_cert = tls.require_cert = true;
                mark_tls("request_cert");
                mark_tls("require_cert");
            }
            st.verify_explicit = true;
        }
    } else if (n == "requireCert") {
        if (auto b = yes_no(o, key)) {
            tls.require_cert = *b;
            if (*b) {
                tls.request_cert = true;
                mark_tls("request_cert");
            }
            mark_tls("require_cert");
            st.verify_explicit = true;
        }
    } else if (n == "checkHost" || n == "checkIP" || n == "checkEmail") {
        single(st, o, key);
        if (auto s = nonempty(o, key)) {
            (n == "checkHost" ? tls.check_host
             : n == "checkIP" ? tls.check_ip
                              : tls.check_email) = *s;
            mark_tls(n == "checkHost" ? "check_host" : n == "checkIP" ? "check_ip" : "check_email");
        }
    } else if (n == "sni") {
        // Its meaning depends on client mode, which may come later: read in finish_service.
        single(st, o, key);
        st.sni = o;
    } else if (n == "ciphers" || n == "curves" || n == "curve") {
        if (auto s = nonempty(o, key)) {
            (n == "ciphers" ? tls.ciphers : tls.groups) = *s;
            mark_tls(n == "ciphers" ? "ciphers" : "groups");
        }
    } else if (n == "ciphersuites") {
        tls.ciphersuites = o.value; // empty: no TLS 1.3 suite
        mark_tls("ciphersuites");
    } else if (n == "options") {
        // Repeatable and cumulative; "-NAME" clears, as stunnel.
        // As stunnel: the name right after the "-", any letter case; kept in OpenSSL's
        // spelling ("no_sslv3" is NO_SSLv3), which the TLS layer looks up exactly.
        bool clear = o.value.starts_with("-");
        std::string_view written = std::string_view(o.value).substr(clear ? 1 : 0);
        std::string name;
        for (const auto& option : tls::ssl_option_names()) {
            if (lower(option.name) == lower(written)) {
                name = std::string(option.name);
                break;
            }
        }
        if (name.empty()) {
            error(o.where, key,
                  fmt::format("unknown option \"{}\" (tlsgate -options lists the names)", written));
            return;
        }
        auto drop = [&](std::vector<std::string>& list) {
            list.erase(std::remove(list.begin(), list.end(), name), list.end());
        };
        drop(tls.options_set);
        drop(tls.options_clear);
        (clear ? tls.options_clear : tls.options_set).push_back(name);
        mark_tls("options");
    } else if (n == "securityLevel") {
        if (auto l = number(o, key, 0, 5)) {
            tls.security_level = static_cast<int>(*l);
            mark_tls("security_level");
        }
    } else if (n == "sslVersion") {
        auto lo = version(o, key, false);
        auto hi = version(o, key, true);
        if (lo && hi) {
            tls.min_version = *lo;
            tls.max_version = *hi;
            mark_tls("min_version");
            mark_tls("max_version");
        }
    } else if (n == "sslVersionMin" || n == "sslVersionMax") {
        bool is_max = n == "sslVersionMax";
        if (auto v = version(o, key, is_max)) {
            (is_max ? tls.max_version : tls.min_version) = *v;
            mark_tls(is_max ? "max_version" : "min_version");
        }
    } else if (n == "renegotiation") {
        if (auto b = yes_no(o, key)) {
            tls.renegotiation = *b;
            mark_tls("renegotiation");
            if (*b) {
                warning(o.where, key,
                        "renegotiation = yes lets clients renegotiate, a denial-of-service "
                        "lever that bettercrypto recommends turning off");
            }
        }
    } else if (n == "sessionResume") {
        // As stunnel: in server mode "no" sends no tickets (TLS 1.2 and 1.3) and keeps no
        // session cache, so nothing resumes; in client mode no session is offered.
        if (auto b = yes_no(o, key)) {
            tls.session_resume = tls.tickets = tls.session_cache = *b;
            for (const char* k : {"session_resume", "tickets", "session_cache"}) {
                mark_tls(k);
            }
        }
    } else if (n == "sessionCacheSize") {
        if (auto v = number(o, key, 0, 1 << 30)) {
            tls.session_cache_size = static_cast<size_t>(*v);
            mark_tls("session_cache_size");
        }
    } else if (n == "sessionCacheTimeout" || n == "session") { // session: its older name
        if (auto v = number(o, key, 1, 365LL * 24 * 3600)) {
            tls.session_cache_timeout = seconds(*v);
            mark_tls("session_cache_timeout");
        }
    } else if (n == "ticketKeySecret" || n == "ticketMacSecret") {
        if (auto h = hex_secret(o, key)) {
            (n == "ticketKeySecret" ? tls.ticket_key_secret : tls.ticket_mac_secret) = *h;
            mark_tls(n == "ticketKeySecret" ? "ticket_key_secret" : "ticket_mac_secret");
        }
    } else if (n == "socket") {
        std::string_view v = o.value;
        size_t eq = v.find('=');
        if (v.size() < 3 || v[1] != ':' || (v[0] != 'a' && v[0] != 'l' && v[0] != 'r') ||
            eq == std::string_view::npos) {
            error(o.where, key,
                  fmt::format("invalid socket option \"{}\": expected a|l|r:OPTION=VALUE", v));
            return;
        }
        SocketOption so;
        so.side = v[0];
        so.name = std::string(v.substr(2, eq - 2));
        so.value = std::string(v.substr(eq + 1));
        so.where = o.where;
        // The name and value are checked by validate_config, for both formats.
        svc.socket_options.push_back(std::move(so));
        mark("socket_options");
    } else if (n == "TIMEOUTbusy" || n == "TIMEOUTconnect" || n == "TIMEOUTidle" ||
               n == "TIMEOUTclose") {
        // TIMEOUTclose = 0 is meaningful (do not wait for close_notify); the others must be
        // positive in tlsgate.
        int64_t min = n == "TIMEOUTclose" ? 0 : 1;
        if (auto v = number(o, key, min, 365LL * 24 * 3600)) {
            Duration d = seconds(*v);
            if (n == "TIMEOUTbusy") {
                svc.handshake_timeout = d;
                st.busy_explicit = true;
                mark("handshake_timeout");
            } else if (n == "TIMEOUTconnect") {
                svc.connect_timeout = d;
                mark("connect_timeout");
            } else if (n == "TIMEOUTidle") {
                svc.idle_timeout = d;
                mark("idle_timeout");
            } else {
                svc.close_timeout = d;
                mark("close_timeout");
            }
        }
    } else if (n == "delay" || n == "retry" || n == "reset") {
        if (auto b = yes_no(o, key)) {
            if (n == "delay") {
                svc.resolve_at_start = !*b;
                mark("resolve_at_start");
            } else {
                (n == "retry" ? svc.retry : svc.reset) = *b;
                mark(n == "retry" ? "retry" : "reset");
            }
        }
    } else if (n == "local") {
        if (auto s = nonempty(o, key)) {
            svc.local = *s;
            mark("local");
        }
    } else if (n == "debug") {
        if (auto l = level(o, key, Scope::section)) {
            svc.log_level = to_log_level(*l);
            mark("log_level");
        }
    } else if (n == "exec") {
        if (auto p = path(o, key)) {
            svc.exec = *p;
            mark("exec");
        }
    } else if (n == "execArgs") {
        // Whitespace separated, no quoting (as stunnel); argv[0] first.
        svc.exec_args.clear();
        std::string_view rest = o.value;
        while (!(rest = trim(rest)).empty()) {
            size_t end = rest.find_first_of(" \t");
            svc.exec_args.emplace_back(rest.substr(0, end));
            rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
        }
        if (svc.exec_args.empty()) {
            error(o.where, key, "must not be empty");
        } else {
            mark("exec_args");
        }
    }
}

} // namespace tlsgate::config::stunnel_conf
