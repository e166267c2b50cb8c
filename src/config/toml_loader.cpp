#include "tlsgate/config/toml_loader.hpp"

#include "tlsgate/config/read_file.hpp"
#include "tlsgate/config/validate.hpp"
#include "toml_reader.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <limits>
#include <openssl/ssl.h>
#include <set>
#include <span>
#include <toml++/toml.h>
#include <unistd.h>
#include <variant>

namespace tlsgate::config {

namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// Enumerations

constexpr Choice<LogLevel> log_levels[] = {{"debug", LogLevel::debug},
                                           {"info", LogLevel::info},
                                           {"notice", LogLevel::notice},
                                           {"warning", LogLevel::warning},
                                           {"error", LogLevel::error}};
constexpr Choice<LogTarget> log_targets[] = {{"stderr", LogTarget::stderr_stream},
                                             {"syslog", LogTarget::syslog}};
constexpr Choice<TlsProfile> tls_profiles[] = {{"bettercrypto-b", TlsProfile::bettercrypto_b},
                                               {"bettercrypto-a", TlsProfile::bettercrypto_a},
                                               {"opportunistic", TlsProfile::opportunistic},
                                               {"custom", TlsProfile::custom}};
constexpr Choice<Protocol> protocols[] = {{"raw", Protocol::raw},
                                          {"imap", Protocol::imap},
                                          {"pop3", Protocol::pop3},
                                          {"smtp", Protocol::smtp}};
constexpr Choice<TlsMode> tls_modes[] = {{"implicit", TlsMode::implicit},
                                         {"starttls", TlsMode::starttls}};
constexpr Choice<StarttlsPolicy> starttls_policies[] = {{"may", StarttlsPolicy::may},
                                                        {"encrypt", StarttlsPolicy::encrypt}};
constexpr Choice<EarlyTalker> early_talkers[] = {{"hold", EarlyTalker::hold},
                                                 {"reject", EarlyTalker::reject}};
constexpr Choice<VerifyMode> verify_modes[] = {{"peer", VerifyMode::peer},
                                               {"none", VerifyMode::none}};
// The first name of each version is the canonical one used in messages.
constexpr Choice<TlsVersion> tls_versions[] = {
    {"TLSv1", TLS1_VERSION},     {"TLSv1.0", TLS1_VERSION},   {"1.0", TLS1_VERSION},
    {"1", TLS1_VERSION},         {"TLSv1.1", TLS1_1_VERSION}, {"1.1", TLS1_1_VERSION},
    {"TLSv1.2", TLS1_2_VERSION}, {"1.2", TLS1_2_VERSION},     {"TLSv1.3", TLS1_3_VERSION},
    {"1.3", TLS1_3_VERSION}};

std::string_view version_name(TlsVersion v) {
    for (const auto& c : tls_versions) {
        if (c.value == v) {
            return c.name;
        }
    }
    return "?";
}

// ---------------------------------------------------------------------------------------------
// Keys

constexpr std::string_view global_keys[] = {
    "workers", "log_level", "log",      "drain_timeout", "daemon",       "pid_file", "user",
    "group",   "chroot",    "log_file", "log_append",    "syslog_ident", "fips"};
constexpr std::string_view tls_keys[] = {"cert",
                                         "key",
                                         "profile",
                                         "ciphers",
                                         "ciphersuites",
                                         "min_version",
                                         "max_version",
                                         "groups",
                                         "dhparam",
                                         "verify",
                                         "ca_file",
                                         "ca_path",
                                         "check_host",
                                         "sni",
                                         "request_cert",
                                         "require_cert",
                                         "verify_chain",
                                         "verify_peer",
                                         "check_ip",
                                         "check_email",
                                         "crl_file",
                                         "crl_path",
                                         "options",
                                         "security_level",
                                         "renegotiation",
                                         "compression",
                                         "tickets",
                                         "ticket_key_file",
                                         "ticket_rotation",
                                         "ticket_key_secret",
                                         "ticket_mac_secret",
                                         "session_cache",
                                         "session_cache_size",
                                         "session_cache_timeout",
                                         "session_resume"};
constexpr Choice<Failover> failovers[] = {{"prio", Failover::prio}, {"rr", Failover::rr}};

bool is_hex_key(std::string_view s) {
    if (s.size() != 32 && s.size() != 64) {
        return false;
    }
    return std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(uint8_t(c)); });
}

// "a:NAME=VALUE" (stunnel's socket option syntax); the option name itself is checked when the
// service is prepared, against the table of options the platform has.
std::optional<SocketOption> parse_socket_option(std::string_view text, std::string& error) {
    SocketOption o;
    if (text.size() < 3 || text[1] != ':' || (text[0] != 'a' && text[0] != 'l' && text[0] != 'r')) {
        error = fmt::format("invalid socket option \"{}\": expected \"a:\", \"l:\" or \"r:\" then "
                            "NAME=VALUE",
                            text);
        return std::nullopt;
    }
    o.side = text[0];
    std::string_view rest = text.substr(2);
    size_t eq = rest.find('=');
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == rest.size()) {
        error = fmt::format("invalid socket option \"{}\": expected NAME=VALUE", text);
        return std::nullopt;
    }
    o.name = std::string(rest.substr(0, eq));
    o.value = std::string(rest.substr(eq + 1));
    return o;
}

bool contains(std::span<const std::string_view> keys, std::string_view k) {
    return std::find(keys.begin(), keys.end(), k) != keys.end();
}

bool valid_service_name(std::string_view name) {
    if (name.empty()) {
        return false;
    }
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == '-';
    });
}

// ---------------------------------------------------------------------------------------------
// The loader

class Loader : public TomlReader {
public:
    explicit Loader(const std::string& file_name) : TomlReader(file_name) {}

    LoadResult run(const toml::table& root);
    LoadResult finish(std::optional<Config> config);

private:
    struct ServiceInfo {
        bool name_ok = false;
    };

    void load_global(const toml::node& n, Global& g);
    bool apply_tls_key(std::string_view k, const toml::node& v, const std::string& key,
                       TlsSettings& s);
    void load_tls(const toml::node& n, TlsSettings& s);
    void check_tls(const TlsSettings& s, const std::set<std::string>& overridden,
                   const std::string& prefix, bool is_service, bool client);
    void load_services(const toml::node& n, const TlsSettings& defaults, Config& cfg);
    Service load_service(const toml::table& t, size_t index, const TlsSettings& defaults,
                         ServiceInfo& info);
};

void Loader::load_global(const toml::node& n, Global& g) {
    const auto* t = n.as_table();
    if (!t) {
        type_error(n, "global", "a table");
        return;
    }
    for (auto&& [k, v] : *t) {
        std::string name(k.str());
        std::string key = "global." + name;
        if (!contains(global_keys, name)) {
            unknown_key(k, v, key);
            continue;
        }
        bool ok = false;
        if (name == "workers") {
            if (auto i = get_int(v, key, 0, 1024)) {
                g.workers = static_cast<unsigned>(*i);
                ok = true;
            }
        } else if (name == "log_level") {
            if (auto e = get_enum<LogLevel>(v, key, log_levels)) {
                g.log_level = *e;
                ok = true;
            }
        } else if (name == "log") {
            if (auto e = get_enum<LogTarget>(v, key, log_targets)) {
                g.log_target = *e;
                ok = true;
            }
        } else if (name == "drain_timeout") {
            if (auto d = get_timeout(v, key)) {
                g.drain_timeout = *d;
                ok = true;
            }
        } else if (name == "daemon" || name == "log_append" || name == "fips") {
            if (auto b = get_bool(v, key)) {
                (name == "daemon" ? g.daemon : name == "fips" ? g.fips : g.log_append) = *b;
                ok = true;
            }
        } else if (name == "pid_file" || name == "chroot" || name == "log_file") {
            if (auto p = get_path(v, key)) {
                (name == "pid_file" ? g.pid_file
                 : name == "chroot" ? g.chroot
                                    : g.log_file) = std::move(*p);
                ok = true;
            }
        } else if (name == "user" || name == "group") {
            if (auto str = get_nonempty(v, key)) {
                (name == "user" ? g.user : g.group) = std::move(*str);
                ok = true;
            }
        } else if (name == "syslog_ident") {
            if (auto str = get_nonempty(v, key)) {
                g.syslog_ident = std::move(*str);
                ok = true;
            }
        }
        if (ok) {
            g.where[name] = loc(v);
        }
    }
}

bool Loader::apply_tls_key(std::string_view k, const toml::node& v, const std::string& key,
                           TlsSettings& s) {
    bool ok = false;
    if (k == "cert" || k == "key") {
        if (auto l = get_path_list(v, key)) {
            (k == "cert" ? s.cert : s.key) = std::move(*l);
            ok = true;
        }
    } else if (k == "profile") {
        if (auto e = get_enum<TlsProfile>(v, key, tls_profiles)) {
            s.profile = *e;
            ok = true;
        }
    } else if (k == "ciphers") {
        if (auto str = get_nonempty(v, key)) {
            s.ciphers = std::move(*str);
            ok = true;
        }
    } else if (k == "ciphersuites") {
        // An empty list is meaningful: it disables every TLS 1.3 suite.
        if (auto str = get_string(v, key)) {
            s.ciphersuites = std::move(*str);
            ok = true;
        }
    } else if (k == "groups") {
        if (auto str = get_nonempty(v, key)) {
            s.groups = std::move(*str);
            ok = true;
        }
    } else if (k == "min_version" || k == "max_version") {
        if (auto e = get_enum<TlsVersion>(v, key, tls_versions)) {
            (k == "min_version" ? s.min_version : s.max_version) = *e;
            ok = true;
        }
    } else if (k == "dhparam" || k == "ca_file" || k == "ca_path") {
        if (auto p = get_path(v, key)) {
            (k == "dhparam" ? s.dhparam : k == "ca_file" ? s.ca_file : s.ca_path) = std::move(*p);
            ok = true;
        }
    } else if (k == "verify") {
        if (auto e = get_enum<VerifyMode>(v, key, verify_modes)) {
            s.verify = *e;
            ok = true;
        }
    } else if (k == "check_host" || k == "sni" || k == "check_ip" || k == "check_email") {
        if (auto str = get_nonempty(v, key)) {
            (k == "check_host" ? s.check_host
             : k == "sni"      ? s.sni
             : k == "check_ip" ? s.check_ip
                               : s.check_email) = std::move(*str);
            ok = true;
        }
    } else if (k == "request_cert" || k == "require_cert" || k == "verify_chain" ||
               k == "verify_peer" || k == "renegotiation" || k == "compression" || k == "tickets" ||
               k == "session_cache" || k == "session_resume") {
        if (auto b = get_bool(v, key)) {
            (k == "request_cert"    ? s.request_cert
             : k == "require_cert"  ? s.require_cert
             : k == "verify_chain"  ? s.verify_chain
             : k == "verify_peer"   ? s.verify_peer
             : k == "renegotiation" ? s.renegotiation
             : k == "compression"   ? s.compression
             : k == "tickets"       ? s.tickets
             : k == "session_cache" ? s.session_cache
                                    : s.session_resume) = *b;
            ok = true;
            if (*b && k == "compression") {
                warning(line_of(v), key,
                        "compression = true turns on TLS compression, which leaks secrets "
                        "through compressed lengths (CRIME); only use it if you must");
            } else if (*b && k == "renegotiation") {
                warning(line_of(v), key,
                        "renegotiation = true lets clients renegotiate, a denial-of-service "
                        "lever that bettercrypto recommends turning off");
            }
        }
    } else if (k == "crl_file" || k == "crl_path" || k == "ticket_key_file") {
        if (auto p = get_path(v, key)) {
            (k == "crl_file"   ? s.crl_file
             : k == "crl_path" ? s.crl_path
                               : s.ticket_key_file) = std::move(*p);
            ok = true;
        }
    } else if (k == "options") {
        if (auto l = get_string_list(v, key)) {
            s.options_set.clear();
            s.options_clear.clear();
            ok = true;
            for (const auto& o : *l) {
                std::string name = o.starts_with('-') ? o.substr(1) : o;
                if (name.empty()) {
                    error(line_of(v), key, "empty option name");
                    ok = false;
                    continue;
                }
                (o.starts_with('-') ? s.options_clear : s.options_set).push_back(name);
            }
        }
    } else if (k == "security_level") {
        if (auto i = get_int(v, key, 0, 5)) {
            s.security_level = static_cast<int>(*i);
            ok = true;
        }
    } else if (k == "session_cache_size") {
        if (auto i = get_int(v, key, 0, 1 << 30)) {
            s.session_cache_size = static_cast<size_t>(*i);
            ok = true;
        }
    } else if (k == "ticket_rotation" || k == "session_cache_timeout") {
        if (auto d = get_timeout(v, key)) {
            (k == "ticket_rotation" ? s.ticket_rotation : s.session_cache_timeout) = *d;
            ok = true;
        }
    } else if (k == "ticket_key_secret" || k == "ticket_mac_secret") {
        if (auto str = get_nonempty(v, key)) {
            if (is_hex_key(*str)) {
                (k == "ticket_key_secret" ? s.ticket_key_secret : s.ticket_mac_secret) =
                    std::move(*str);
                ok = true;
            } else {
                error(line_of(v), key, "expected 16 or 32 bytes as hexadecimal digits");
            }
        }
    }
    if (ok) {
        s.where[std::string(k)] = loc(v);
    }
    return ok;
}

void Loader::load_tls(const toml::node& n, TlsSettings& s) {
    const auto* t = n.as_table();
    if (!t) {
        type_error(n, "tls", "a table");
        return;
    }
    s.section = loc(n);
    for (auto&& [k, v] : *t) {
        std::string key = fmt::format("tls.{}", k.str());
        if (!contains(tls_keys, k.str())) {
            unknown_key(k, v, key);
            continue;
        }
        apply_tls_key(k.str(), v, key, s);
    }
    check_tls(s, {}, "tls", false, false);
}

// Consistency checks on (merged) TLS settings. For [tls] itself only checks that do not
// depend on a service run; for a service, checks that only involve inherited keys are left
// to the [tls] pass so the same problem is not reported once per service.
void Loader::check_tls(const TlsSettings& s, const std::set<std::string>& overridden,
                       const std::string& prefix, bool is_service, bool client) {
    auto touched = [&](std::initializer_list<const char*> keys) {
        if (!is_service) {
            return true;
        }
        return std::any_of(keys.begin(), keys.end(),
                           [&](const char* k) { return overridden.count(k) > 0; });
    };
    if (s.min_version != 0 && s.max_version != 0 && s.min_version > s.max_version &&
        touched({"min_version", "max_version"})) {
        error(s.locate("min_version").line, prefix + ".min_version",
              fmt::format("min_version {} is greater than max_version {}",
                          version_name(s.min_version), version_name(s.max_version)));
    }
    // [tls] alone may hold only one of cert/key (services complete it); when it holds both,
    // a mismatch is reported there and not again for every service that inherits it.
    bool inherited_mismatch = !s.cert.empty() && !s.key.empty();
    if (s.cert.size() != s.key.size() &&
        (is_service ? touched({"cert", "key"}) || !inherited_mismatch : inherited_mismatch)) {
        error(s.locate("key").line, prefix + ".key",
              fmt::format("{} cert file(s) but {} key file(s); each cert needs its key",
                          s.cert.size(), s.key.size()));
    }
    if (s.ticket_key_secret.has_value() != s.ticket_mac_secret.has_value() &&
        touched({"ticket_key_secret", "ticket_mac_secret"})) {
        const char* missing = s.ticket_key_secret ? "ticket_mac_secret" : "ticket_key_secret";
        error(s.locate(s.ticket_key_secret ? "ticket_key_secret" : "ticket_mac_secret").line,
              prefix + "." + missing,
              fmt::format("ticket_key_secret and ticket_mac_secret go together; {} is missing",
                          missing));
    }
    if (!s.tickets && (s.ticket_key_file || s.ticket_key_secret) &&
        touched({"tickets", "ticket_key_file", "ticket_key_secret"})) {
        warning(s.locate("tickets").line, prefix + ".tickets",
                "tickets = false: the ticket keys set here are not used");
    }
    if (s.ticket_key_file && s.ticket_key_secret &&
        touched({"ticket_key_file", "ticket_key_secret"})) {
        error(s.locate("ticket_key_file").line, prefix + ".ticket_key_file",
              "set either ticket_key_file or ticket_key_secret/ticket_mac_secret, not both");
    }
    if (!is_service) {
        return;
    }
    if (s.cert.empty() && !client) {
        error(s.locate("cert").line, prefix + ".cert",
              "no certificate: set cert and key in [tls] or in the service (only client = true "
              "services may go without)");
    }
    if (s.profile == TlsProfile::custom && !s.ciphers) {
        error(s.locate("profile").line, prefix + ".profile",
              "profile \"custom\" requires \"ciphers\" to be set");
    }
}

// Makes the peer-certificate switches concrete. Client mode verifies the server by default
// (verify = "peer"); server mode asks for no client certificate unless told to.
void finalize_verification(TlsSettings& s, bool client) {
    const bool explicit_verify = s.where.count("verify") > 0;
    const bool peer = s.verify == VerifyMode::peer;
    if ((client || explicit_verify) && !s.where.count("verify_chain")) {
        s.verify_chain = peer;
    }
    if ((client || explicit_verify) && !s.where.count("require_cert")) {
        s.require_cert = peer;
    }
    if (!client && (s.verify_chain || s.verify_peer || s.require_cert)) {
        s.request_cert = true;
    }
    s.verify = s.verify_chain || s.verify_peer ? VerifyMode::peer : VerifyMode::none;
}

Service Loader::load_service(const toml::table& t, size_t index, const TlsSettings& defaults,
                             ServiceInfo& info) {
    Service svc;
    svc.section = loc(t);
    svc.tls = defaults;
    svc.tls.section = svc.section;

    // The name first: every other message is labelled with it.
    std::string prefix = fmt::format("service[#{}]", index + 1);
    if (const toml::node* n = t.get("name")) {
        if (auto name = get_string(*n, prefix + ".name")) {
            if (valid_service_name(*name)) {
                svc.name = *name;
                svc.where["name"] = loc(*n);
                prefix = fmt::format("service[{}]", *name);
                info.name_ok = true;
            } else {
                error(line_of(*n), prefix + ".name",
                      fmt::format("invalid service name \"{}\": use letters, digits, '.', '_' "
                                  "and '-' only",
                                  *name));
            }
        }
    } else {
        error(svc.section.line, prefix + ".name", "missing required key \"name\"");
    }

    std::set<std::string> overridden;
    bool have_listen = false, have_backend = false, have_policy = false, have_early = false;
    std::optional<int> tls_mode_line;
    for (auto&& [k, v] : t) {
        std::string name(k.str());
        std::string key = prefix + "." + name;
        bool ok = false;
        if (name == "name") {
            continue;
        } else if (contains(tls_keys, name)) {
            ok = apply_tls_key(name, v, key, svc.tls);
            overridden.insert(name);
        } else if (name == "listen") {
            have_listen = true;
            if (auto a = get_address(v, key, true)) {
                svc.listen = *a;
                ok = true;
            }
        } else if (name == "backend") {
            have_backend = true;
            if (auto list = get_string_list(v, key)) {
                ok = !list->empty();
                if (list->empty()) {
                    error(line_of(v), key, "needs at least one address");
                }
                for (const auto& text : *list) {
                    auto r = net::parse_address(text, false);
                    if (auto* e = std::get_if<net::AddressError>(&r)) {
                        error(line_of(v), key, e->message);
                        ok = false;
                    } else {
                        svc.backends.push_back(std::get<net::Address>(r));
                    }
                }
            }
        } else if (name == "failover") {
            if (auto e = get_enum<Failover>(v, key, failovers)) {
                svc.failover = *e;
                ok = true;
            }
        } else if (name == "exec") {
            if (auto p = get_path(v, key)) {
                svc.exec = std::move(*p);
                ok = true;
            }
        } else if (name == "exec_args" || name == "socket_options") {
            if (auto l = get_string_list(v, key)) {
                ok = true;
                if (name == "exec_args") {
                    svc.exec_args = std::move(*l);
                } else {
                    for (const auto& text : *l) {
                        std::string message;
                        if (auto o = parse_socket_option(text, message)) {
                            o->where = loc(v);
                            svc.socket_options.push_back(std::move(*o));
                        } else {
                            error(line_of(v), key, message);
                            ok = false;
                        }
                    }
                }
            }
        } else if (name == "retry" || name == "inetd" || name == "proxy_header" ||
                   name == "resolve_at_start" || name == "reset" || name == "strict_sni") {
            if (auto b = get_bool(v, key)) {
                (name == "retry"              ? svc.retry
                 : name == "inetd"            ? svc.inetd
                 : name == "proxy_header"     ? svc.proxy_header
                 : name == "resolve_at_start" ? svc.resolve_at_start
                 : name == "strict_sni"       ? svc.strict_sni
                                              : svc.reset) = *b;
                ok = true;
            }
        } else if (name == "local") {
            if (auto str = get_nonempty(v, key)) {
                svc.local = std::move(*str);
                ok = true;
            }
        } else if (name == "sni_parent" || name == "sni_pattern") {
            if (auto str = get_nonempty(v, key)) {
                (name == "sni_parent" ? svc.sni_parent : svc.sni_pattern) = std::move(*str);
                ok = true;
            }
        } else if (name == "log_level") {
            if (auto e = get_enum<LogLevel>(v, key, log_levels)) {
                svc.log_level = *e;
                ok = true;
            }
        } else if (name == "protocol") {
            if (auto e = get_enum<Protocol>(v, key, protocols)) {
                svc.protocol = *e;
                ok = true;
            }
        } else if (name == "tls") {
            if (auto e = get_enum<TlsMode>(v, key, tls_modes)) {
                svc.tls_mode = *e;
                tls_mode_line = line_of(v);
                ok = true;
            }
        } else if (name == "client") {
            if (auto b = get_bool(v, key)) {
                svc.client = *b;
                ok = true;
            }
        } else if (name == "starttls_policy") {
            have_policy = true;
            if (auto e = get_enum<StarttlsPolicy>(v, key, starttls_policies)) {
                svc.starttls_policy = *e;
                ok = true;
            }
        } else if (name == "auth_requires_tls") {
            if (auto b = get_bool(v, key)) {
                svc.auth_requires_tls = *b;
                ok = true;
                if (!*b) {
                    warning(line_of(v), key,
                            "auth_requires_tls = false lets clients send credentials before "
                            "STARTTLS, in cleartext");
                }
            }
        } else if (name == "allow_xclient") {
            if (auto b = get_bool(v, key)) {
                svc.allow_xclient = *b;
                ok = true;
                if (*b) {
                    warning(line_of(v), key,
                            "allow_xclient = true lets every client of this service tell the "
                            "backend which address and name to believe");
                }
            }
        } else if (name == "early_talker") {
            have_early = true;
            if (auto e = get_enum<EarlyTalker>(v, key, early_talkers)) {
                svc.early_talker = *e;
                ok = true;
            }
        } else if (name == "handshake_timeout" || name == "connect_timeout" ||
                   name == "idle_timeout" || name == "plaintext_timeout" ||
                   name == "close_timeout") {
            if (auto d = get_timeout(v, key, name == "close_timeout")) {
                Duration& dst = name == "handshake_timeout" ? svc.handshake_timeout
                                : name == "connect_timeout" ? svc.connect_timeout
                                : name == "idle_timeout"    ? svc.idle_timeout
                                : name == "close_timeout"   ? svc.close_timeout
                                                            : svc.plaintext_timeout;
                dst = *d;
                ok = true;
            }
        } else if (name == "max_errors") {
            if (auto i = get_int(v, key, 1, std::numeric_limits<unsigned>::max())) {
                svc.max_errors = static_cast<unsigned>(*i);
                ok = true;
            }
        } else if (name == "max_line") {
            if (auto i = get_int(v, key, 512, 1048576)) {
                svc.max_line = static_cast<size_t>(*i);
                ok = true;
            }
        } else {
            unknown_key(k, v, key);
            continue;
        }
        if (ok) {
            svc.where[name] = loc(v);
        }
    }

    if (!have_listen && !svc.inetd && !svc.sni_parent) {
        error(svc.section.line, prefix + ".listen", "missing required key \"listen\"");
    }
    if (have_listen && svc.inetd) {
        error(svc.locate("inetd").line, prefix + ".inetd",
              "an inetd service takes its connection on stdin/stdout; remove \"listen\"");
    }
    if (have_listen && svc.sni_parent) {
        error(svc.locate("sni_parent").line, prefix + ".sni_parent",
              "an SNI service is reached through its parent's listener; remove \"listen\"");
    }
    if (!have_backend && !svc.exec) {
        error(svc.section.line, prefix + ".backend",
              "missing required key \"backend\" (or \"exec\")");
    }
    if (have_backend && svc.exec) {
        error(svc.locate("exec").line, prefix + ".exec",
              "set either \"backend\" or \"exec\", not both");
    }
    if (svc.exec && svc.exec_args.empty()) {
        svc.exec_args.push_back(fs::path(*svc.exec).filename().string());
    }
    finalize_verification(svc.tls, svc.client);
    if (!have_policy) {
        // Server side, port 25 stays opportunistic; client mode refuses plaintext unless
        // told otherwise.
        svc.starttls_policy = svc.protocol == Protocol::smtp && !svc.client
                                  ? StarttlsPolicy::may
                                  : StarttlsPolicy::encrypt;
    }
    if (!have_early) {
        // Port 25 (plaintext listener, opportunistic STARTTLS) is where bots talk first;
        // submission clients (587 "encrypt", 465 implicit TLS) are held instead.
        svc.early_talker =
            svc.tls_mode == TlsMode::starttls && svc.starttls_policy == StarttlsPolicy::may
                ? EarlyTalker::reject
                : EarlyTalker::hold;
    }
    if (svc.allow_xclient &&
        (svc.client || (svc.protocol != Protocol::smtp && svc.protocol != Protocol::pop3))) {
        error(svc.locate("allow_xclient").line, prefix + ".allow_xclient",
              "allow_xclient applies to server-side SMTP and POP3 services only (protocol = "
              "\"smtp\" or \"pop3\", client = false); remove it");
    }
    if (have_early && (svc.protocol != Protocol::smtp || svc.client)) {
        error(svc.locate("early_talker").line, prefix + ".early_talker",
              "early_talker applies to server-side SMTP services only (protocol = \"smtp\", "
              "client = false); remove it");
    }
    if (svc.client && svc.tls.verify == VerifyMode::none) {
        warning(svc.tls.locate("verify").line, prefix + ".verify",
                "verify = \"none\": the server's certificate is not checked; anyone on the path "
                "can read and change the traffic");
    }
    if (svc.client && svc.starttls_policy == StarttlsPolicy::may &&
        svc.protocol != Protocol::smtp && have_policy) {
        error(svc.locate("starttls_policy").line, prefix + ".starttls_policy",
              "starttls_policy = \"may\" is for SMTP only; IMAP and POP3 client mode always "
              "require TLS");
    }
    if (svc.tls_mode == TlsMode::starttls && svc.protocol == Protocol::raw) {
        error(tls_mode_line.value_or(svc.section.line), prefix + ".tls",
              "tls = \"starttls\" requires protocol \"imap\", \"pop3\" or \"smtp\" (protocol is "
              "\"raw\")");
    }
    check_tls(svc.tls, overridden, prefix, true, svc.client);
    return svc;
}

void Loader::load_services(const toml::node& n, const TlsSettings& defaults, Config& cfg) {
    const auto* arr = n.as_array();
    if (!arr) {
        type_error(n, "service", "an array of tables ([[service]])");
        return;
    }
    std::vector<ServiceInfo> infos;
    for (size_t i = 0; i < arr->size(); ++i) {
        const toml::node& el = *arr->get(i);
        const auto* t = el.as_table();
        if (!t) {
            type_error(el, fmt::format("service[#{}]", i + 1), "a table");
            continue;
        }
        ServiceInfo info;
        cfg.services.push_back(load_service(*t, i, defaults, info));
        infos.push_back(info);

        const Service& svc = cfg.services.back();
        for (size_t j = 0; j + 1 < cfg.services.size(); ++j) {
            const Service& prev = cfg.services[j];
            if (info.name_ok && infos[j].name_ok && prev.name == svc.name) {
                error(svc.locate("name").line, fmt::format("service[{}].name", svc.name),
                      fmt::format("duplicate service name \"{}\" (first defined at line {})",
                                  svc.name, prev.locate("name").line));
            }
        }
    }
}

LoadResult Loader::run(const toml::table& root) {
    Config cfg;
    cfg.source_file = file_;
    TlsSettings defaults;
    defaults.section = Location{file_, 0};

    // [tls] first: services inherit from it whatever the order in the file.
    if (const toml::node* n = root.get("tls")) {
        load_tls(*n, defaults);
    }
    bool have_services = false;
    for (auto&& [k, v] : root) {
        if (k.str() == "global") {
            load_global(v, cfg.global);
        } else if (k.str() == "tls") {
            continue;
        } else if (k.str() == "service") {
            load_services(v, defaults, cfg);
            have_services = !cfg.services.empty() || (v.as_array() && !v.as_array()->empty());
        } else {
            unknown_key(k, v, std::string(k.str()));
        }
    }
    if (!have_services) {
        error(0, "service", "no [[service]] defined");
    }
    std::vector<ConfigError> cross;
    validate_config(cfg, cross);
    for (auto& e : cross) {
        error(e.where.line, std::move(e.key), std::move(e.message));
    }
    return finish(std::move(cfg));
}

LoadResult Loader::finish(std::optional<Config> config) {
    auto by_line = [](const ConfigError& a, const ConfigError& b) {
        return a.where.line < b.where.line;
    };
    std::stable_sort(errors_.begin(), errors_.end(), by_line);
    std::stable_sort(warnings_.begin(), warnings_.end(), by_line);
    LoadResult r;
    if (errors_.empty()) {
        r.config = std::move(config);
    } else {
        r.partial = std::move(config);
    }
    r.errors = std::move(errors_);
    r.warnings = std::move(warnings_);
    return r;
}

} // namespace

std::optional<Duration> parse_duration(std::string_view text) {
    auto r = parse_duration_detail(text);
    if (auto* d = std::get_if<Duration>(&r)) {
        return *d;
    }
    return std::nullopt;
}

LoadResult load_toml_string(std::string_view text, const std::string& file_name) {
    Loader loader(file_name);
    toml::table root;
    try {
        root = toml::parse(text, std::string_view(file_name));
    } catch (const toml::parse_error& e) {
        loader.error(static_cast<int>(e.source().begin.line), "", std::string(e.description()));
        return loader.finish(std::nullopt);
    }
    return loader.run(root);
}

LoadResult load_toml_file(const std::string& file_name) {
    auto fail = [&](int err) {
        LoadResult r;
        r.errors.push_back(ConfigError{Location{file_name, 0}, "",
                                       fmt::format("cannot read file: {}", std::strerror(err))});
        return r;
    };
    std::string text;
    if (int err = read_whole_file(file_name, text)) {
        return fail(err);
    }
    return load_toml_string(text, file_name);
}

} // namespace tlsgate::config
