// The TOML key tables (see key_table.hpp). A table file: one entry per key, in the order
// --print-toml writes them.
#include "key_table.hpp"

#include <algorithm>
#include <filesystem>
#include <openssl/ssl.h>

namespace tlsgate::config {

namespace {

// ---------------------------------------------------------------------------------------------
// Enumerations as TOML spells them

constexpr Choice<LogLevel> log_levels[] = {{"debug", LogLevel::debug},
                                           {"info", LogLevel::info},
                                           {"notice", LogLevel::notice},
                                           {"warning", LogLevel::warning},
                                           {"error", LogLevel::error}};
constexpr Choice<LogTarget> log_targets[] = {{"stderr", LogTarget::stderr_stream},
                                             {"syslog", LogTarget::syslog}};
constexpr Choice<LogFormat> log_formats[] = {{"text", LogFormat::text}, {"json", LogFormat::json}};
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
constexpr Choice<Failover> failovers[] = {{"prio", Failover::prio}, {"rr", Failover::rr}};
// The first name of each version is the canonical one, written and used in messages.
constexpr Choice<TlsVersion> tls_versions[] = {
    {"TLSv1", TLS1_VERSION},     {"TLSv1.0", TLS1_VERSION},   {"1.0", TLS1_VERSION},
    {"1", TLS1_VERSION},         {"TLSv1.1", TLS1_1_VERSION}, {"1.1", TLS1_1_VERSION},
    {"TLSv1.2", TLS1_2_VERSION}, {"1.2", TLS1_2_VERSION},     {"TLSv1.3", TLS1_3_VERSION},
    {"1.3", TLS1_3_VERSION}};

template <class E> std::string_view choice_name(std::span<const Choice<E>> choices, E value) {
    for (const auto& c : choices) {
        if (c.value == value) {
            return c.name;
        }
    }
    return "?";
}

template <class E> std::string choice_type(std::span<const Choice<E>> choices) {
    std::string out = "one of";
    E last{};
    for (size_t i = 0; i < choices.size(); ++i) {
        if (i > 0 && choices[i].value == last) {
            continue; // an alias: only the canonical name
        }
        out += fmt::format("{} {}", i == 0 ? ":" : ",", choices[i].name);
        last = choices[i].value;
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// Values as TOML text

// In the largest unit that holds it exactly ("14d", "12h", "90s", "250ms"): parse_duration reads
// each back to the same value.
std::string duration_text(Duration d) {
    const int64_t ms = d.count();
    if (ms != 0 && ms % 86400000 == 0) {
        return toml_quote(fmt::format("{}d", ms / 86400000));
    }
    if (ms != 0 && ms % 3600000 == 0) {
        return toml_quote(fmt::format("{}h", ms / 3600000));
    }
    if (ms != 0 && ms % 60000 == 0) {
        return toml_quote(fmt::format("{}m", ms / 60000));
    }
    return ms % 1000 == 0 ? toml_quote(fmt::format("{}s", ms / 1000))
                          : toml_quote(fmt::format("{}ms", ms));
}

bool is_hex_key(std::string_view s) {
    if (s.size() != 32 && s.size() != 64) {
        return false;
    }
    return std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(uint8_t(c)); });
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

// "a:NAME=VALUE" (stunnel's socket option syntax); the name and value are checked by
// validate_config against the table of options the platform has.
Result<SocketOption> parse_socket_option(std::string_view text) {
    SocketOption o;
    if (text.size() < 3 || text[1] != ':' || (text[0] != 'a' && text[0] != 'l' && text[0] != 'r')) {
        return Error{fmt::format("invalid socket option \"{}\": expected \"a:\", \"l:\" or \"r:\" "
                                 "then NAME=VALUE",
                                 text)};
    }
    o.side = text[0];
    std::string_view rest = text.substr(2);
    size_t eq = rest.find('=');
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == rest.size()) {
        return Error{fmt::format("invalid socket option \"{}\": expected NAME=VALUE", text)};
    }
    o.name = std::string(rest.substr(0, eq));
    o.value = std::string(rest.substr(eq + 1));
    return o;
}

// ---------------------------------------------------------------------------------------------
// Codecs: one builder per value type. `get` is an accessor, `[](auto& o) -> auto& {...}`.

#define FIELD(f)                                                                                   \
    [](auto& o) -> auto& {                                                                         \
        return o.f;                                                                                \
    }

using Text = std::optional<std::string>;

template <class Owner> using Reader = decltype(Key<Owner>::read);
template <class Owner> using Writer = decltype(Key<Owner>::write);

// A key whose default is the field's value in a default-constructed owner.
template <class Owner>
Key<Owner> key(std::string_view name, std::string type, std::string_view doc, Reader<Owner> read,
               Writer<Owner> write) {
    Key<Owner> k;
    k.name = name;
    k.type = std::move(type);
    k.doc = doc;
    k.read = std::move(read);
    Text fixed = write(Owner{});
    k.write = std::move(write);
    k.default_value = [fixed](const Owner&) { return fixed; };
    return k;
}

template <class Owner, class Get>
Key<Owner> boolean(std::string_view name, Get get, std::string_view doc,
                   std::optional<bool> warn_when = std::nullopt, std::string_view warning = {}) {
    return key<Owner>(
        name, "boolean", doc,
        [get, warn_when, warning](TomlReader& r, const toml::node& n, const std::string& k,
                                  Owner& o) {
            auto b = r.get_bool(n, k);
            if (!b) {
                return false;
            }
            get(o) = *b;
            if (warn_when == *b) {
                r.warning(line_of(n), k, std::string(warning));
            }
            return true;
        },
        [get](const Owner& o) -> Text { return get(o) ? "true" : "false"; });
}

template <class Owner, class Get>
Key<Owner> integer(std::string_view name, Get get, int64_t min, int64_t max, std::string_view doc) {
    return key<Owner>(
        name, fmt::format("integer {}..{}", min, max), doc,
        [get, min, max](TomlReader& r, const toml::node& n, const std::string& k, Owner& o) {
            auto i = r.get_int(n, k, min, max);
            if (!i) {
                return false;
            }
            using T = std::remove_reference_t<decltype(get(o))>;
            if constexpr (std::is_same_v<T, std::optional<int>>) {
                get(o) = static_cast<int>(*i);
            } else {
                get(o) = static_cast<T>(*i);
            }
            return true;
        },
        [get](const Owner& o) -> Text {
            const auto& v = get(o);
            if constexpr (std::is_same_v<std::remove_cvref_t<decltype(v)>, std::optional<int>>) {
                return v ? Text(fmt::format("{}", *v)) : std::nullopt;
            } else {
                return fmt::format("{}", v);
            }
        });
}

// Timeouts must be positive, except where zero means "do not wait".
template <class Owner, class Get>
Key<Owner> duration(std::string_view name, Get get, std::string_view doc, bool allow_zero = false) {
    return key<Owner>(
        name, allow_zero ? "duration (0 allowed)" : "duration", doc,
        [get, allow_zero](TomlReader& r, const toml::node& n, const std::string& k, Owner& o) {
            auto d = r.get_timeout(n, k, allow_zero);
            if (d) {
                get(o) = *d;
            }
            return d.has_value();
        },
        [get](const Owner& o) -> Text { return duration_text(get(o)); });
}

// An enumeration; an optional one (unset by default) when the field is a std::optional.
template <class Owner, class E, size_t N, class Get>
Key<Owner> choice(std::string_view name, Get get, const Choice<E> (&choices)[N],
                  std::string_view doc) {
    std::span<const Choice<E>> all(choices);
    return key<Owner>(
        name, choice_type(all), doc,
        [get, all](TomlReader& r, const toml::node& n, const std::string& k, Owner& o) {
            auto e = r.get_enum<E>(n, k, all);
            if (e) {
                get(o) = *e;
            }
            return e.has_value();
        },
        [get, all](const Owner& o) -> Text {
            const auto& v = get(o);
            if constexpr (std::is_same_v<std::remove_cvref_t<decltype(v)>, std::optional<E>>) {
                return v ? Text(toml_quote(choice_name(all, *v))) : std::nullopt;
            } else {
                return toml_quote(choice_name(all, v));
            }
        });
}

template <class Owner, class Get>
Key<Owner> version(std::string_view name, Get get, std::string_view doc) {
    std::span<const Choice<TlsVersion>> all(tls_versions);
    return key<Owner>(
        name, "one of: TLSv1, TLSv1.1, TLSv1.2, TLSv1.3 (also 1.0 .. 1.3)", doc,
        [get, all](TomlReader& r, const toml::node& n, const std::string& k, Owner& o) {
            auto e = r.get_enum<TlsVersion>(n, k, all);
            if (e) {
                get(o) = *e;
            }
            return e.has_value();
        },
        [get, all](const Owner& o) -> Text {
            return get(o) == 0 ? std::nullopt : Text(toml_quote(choice_name(all, get(o))));
        });
}

enum class Empty { allowed, refused };

// A string; an optional one (unset by default) when the field is a std::optional.
template <class Owner, class Get>
Key<Owner> string(std::string_view name, Get get, std::string_view doc,
                  Empty empty = Empty::refused) {
    return key<Owner>(
        name, "string", doc,
        [get, empty](TomlReader& r, const toml::node& n, const std::string& k, Owner& o) {
            auto s = empty == Empty::allowed ? r.get_string(n, k) : r.get_nonempty(n, k);
            if (s) {
                get(o) = std::move(*s);
            }
            return s.has_value();
        },
        [get](const Owner& o) -> Text {
            const auto& v = get(o);
            if constexpr (std::is_same_v<std::remove_cvref_t<decltype(v)>,
                                         std::optional<std::string>>) {
                return v ? Text(toml_quote(*v)) : std::nullopt;
            } else {
                return toml_quote(v);
            }
        });
}

// A file or directory; relative to the config file's directory.
template <class Owner, class Get>
Key<Owner> path(std::string_view name, Get get, std::string_view doc) {
    return key<Owner>(
        name, "path", doc,
        [get](TomlReader& r, const toml::node& n, const std::string& k, Owner& o) {
            auto p = r.get_path(n, k);
            if (p) {
                get(o) = std::move(*p);
            }
            return p.has_value();
        },
        [get](const Owner& o) -> Text {
            return get(o) ? Text(toml_quote(*get(o))) : std::nullopt;
        });
}

template <class Owner, class Get>
Key<Owner> path_list(std::string_view name, Get get, std::string_view doc) {
    return key<Owner>(
        name, "path or array of paths", doc,
        [get](TomlReader& r, const toml::node& n, const std::string& k, Owner& o) {
            auto l = r.get_path_list(n, k);
            if (l) {
                get(o) = std::move(*l);
            }
            return l.has_value();
        },
        [get](const Owner& o) -> Text {
            return get(o).empty() ? std::nullopt : Text(toml_list(get(o)));
        });
}

template <class Owner, class Get>
Key<Owner> hex_secret(std::string_view name, Get get, std::string_view doc) {
    return key<Owner>(
        name, "string (32 or 64 hex digits)", doc,
        [get](TomlReader& r, const toml::node& n, const std::string& k, Owner& o) {
            auto s = r.get_nonempty(n, k);
            if (!s) {
                return false;
            }
            if (!is_hex_key(*s)) {
                r.error(line_of(n), k, "expected 16 or 32 bytes as hexadecimal digits");
                return false;
            }
            get(o) = std::move(*s);
            return true;
        },
        [get](const Owner& o) -> Text {
            return get(o) ? Text(toml_quote(*get(o))) : std::nullopt;
        });
}

// Replaces the default with one derived from the owner's other keys.
template <class Owner>
Key<Owner> derived(Key<Owner> k, std::function<Text(const Owner&)> value, std::string_view doc) {
    k.default_value = std::move(value);
    k.derived_default = doc;
    return k;
}

// Names the default in the reference, where the value alone does not say it.
template <class Owner> Key<Owner> documented_default(Key<Owner> k, std::string_view doc) {
    k.derived_default = doc;
    return k;
}

template <class Owner> Key<Owner> restart_only(Key<Owner> k) {
    k.on_reload = OnReload::needs_restart;
    return k;
}

std::vector<Key<Global>> make_global_keys() {
    using G = Global;
    return {
        restart_only(
            integer<G>("workers", FIELD(workers), 0, 1024, "worker threads; 0 = one per core")),
        choice<G>("log_level", FIELD(log_level), log_levels, "least severe level logged"),
        restart_only(choice<G>("log", FIELD(log_target), log_targets, "where the log goes")),
        restart_only(choice<G>("log_format", FIELD(log_format), log_formats,
                               "text lines, or one JSON object a line (time, level, conn, "
                               "service, client, msg)")),
        restart_only(duration<G>("drain_timeout", FIELD(drain_timeout),
                                 "how long open connections may finish at shutdown")),
        restart_only(boolean<G>("daemon", FIELD(daemon), "fork into the background")),
        restart_only(path<G>("pid_file", FIELD(pid_file), "written after start, removed at exit")),
        restart_only(string<G>("user", FIELD(user), "setuid to this user after binding")),
        restart_only(string<G>("group", FIELD(group), "setgid to this group after binding")),
        restart_only(path<G>("chroot", FIELD(chroot), "chroot here after loading certificates")),
        restart_only(path<G>("log_file", FIELD(log_file),
                             "log to this file (reopened on SIGUSR1) instead of stderr")),
        restart_only(boolean<G>("log_append", FIELD(log_append),
                                "append to log_file; false truncates it at start")),
        restart_only(string<G>("syslog_ident", FIELD(syslog_ident), "the syslog identity")),
        restart_only(
            boolean<G>("fips", FIELD(fips), "refuse to start without the OpenSSL FIPS provider")),
        duration<G>("cert_expiry_warning", FIELD(cert_expiry_warning),
                    "warn (at --check, at start and daily) about a certificate that expires "
                    "within this; 0: only about expired or not yet valid ones",
                    true),
    };
}

using S = Service;

std::vector<Key<Service>> make_tls_keys() {
    return {
        path_list<S>("cert", FIELD(tls.cert),
                     "PEM certificate files; a file may hold the chain after the leaf"),
        path_list<S>("key", FIELD(tls.key), "PEM private keys, one per cert"),
        choice<S>("profile", FIELD(tls.profile), tls_profiles,
                  "cipher and version profile; custom needs ciphers"),
        string<S>("ciphers", FIELD(tls.ciphers), "TLS <= 1.2 cipher list; profile default"),
        string<S>("ciphersuites", FIELD(tls.ciphersuites),
                  "TLS 1.3 suites; empty disables them; OpenSSL default", Empty::allowed),
        version<S>("min_version", FIELD(tls.min_version), "lowest TLS version; profile default"),
        version<S>("max_version", FIELD(tls.max_version), "highest TLS version; profile default"),
        string<S>("groups", FIELD(tls.groups), "key exchange groups, e.g. X25519:P-256"),
        path<S>("dhparam", FIELD(tls.dhparam), "DH parameters; default RFC 7919 ffdhe groups"),
        // The summary of the four switches below: read, never written.
        documented_default(
            key<S>(
                "verify", choice_type(std::span<const Choice<VerifyMode>>(verify_modes)),
                "peer sets verify_chain and require_cert, none clears them",
                [](TomlReader& r, const toml::node& n, const std::string& k, Service& s) {
                    auto e = r.get_enum<VerifyMode>(n, k, verify_modes);
                    if (e) {
                        s.tls.verify = *e;
                    }
                    return e.has_value();
                },
                [](const Service&) -> Text { return std::nullopt; }),
            "\"peer\" in client mode, else no checks"),
        path<S>("ca_file", FIELD(tls.ca_file), "trusted CAs (PEM); default the system store"),
        path<S>("ca_path", FIELD(tls.ca_path), "hashed directory of trusted CAs"),
        string<S>("check_host", FIELD(tls.check_host),
                  "client mode: the name the server certificate must carry; default the backend"),
        string<S>("sni", FIELD(tls.sni), "client mode: the SNI sent; default the backend's name"),
        derived<S>(
            boolean<S>("request_cert", FIELD(tls.request_cert),
                       "server mode: ask the client for a certificate"),
            [](const Service& s) -> Text {
                return !s.client && (s.tls.verify_chain || s.tls.verify_peer || s.tls.require_cert)
                           ? "true"
                           : "false";
            },
            "true when a peer check is on (server mode)"),
        derived<S>(
            boolean<S>("require_cert", FIELD(tls.require_cert),
                       "fail the handshake without a peer certificate"),
            [](const Service& s) -> Text { return s.client ? "true" : "false"; },
            "true in client mode"),
        derived<S>(
            boolean<S>("verify_chain", FIELD(tls.verify_chain),
                       "the peer chain must verify against ca_file/ca_path"),
            [](const Service& s) -> Text { return s.client ? "true" : "false"; },
            "true in client mode"),
        boolean<S>("verify_peer", FIELD(tls.verify_peer),
                   "the peer certificate itself must be in ca_file/ca_path"),
        string<S>("check_ip", FIELD(tls.check_ip), "the peer certificate must carry this IP"),
        string<S>("check_email", FIELD(tls.check_email),
                  "the peer certificate must carry this email address"),
        path<S>("crl_file", FIELD(tls.crl_file), "PEM CRLs, checked for the whole chain"),
        path<S>("crl_path", FIELD(tls.crl_path), "hashed CRL directory"),
        key<S>(
            "options", "string or array of strings",
            "extra SSL_OP_* switches without the prefix; a leading '-' clears one",
            [](TomlReader& r, const toml::node& n, const std::string& k, Service& s) {
                auto l = r.get_string_list(n, k);
                if (!l) {
                    return false;
                }
                s.tls.options_set.clear();
                s.tls.options_clear.clear();
                bool ok = true;
                for (const auto& o : *l) {
                    std::string name = o.starts_with('-') ? o.substr(1) : o;
                    if (name.empty()) {
                        r.error(line_of(n), k, "empty option name");
                        ok = false;
                        continue;
                    }
                    (o.starts_with('-') ? s.tls.options_clear : s.tls.options_set).push_back(name);
                }
                return ok;
            },
            [](const Service& s) -> Text {
                std::vector<std::string> options = s.tls.options_set;
                for (const auto& o : s.tls.options_clear) {
                    options.push_back("-" + o);
                }
                return options.empty() ? std::nullopt : Text(toml_list(options));
            }),
        integer<S>("security_level", FIELD(tls.security_level), 0, 5,
                   "OpenSSL security level; default OpenSSL's (2)"),
        boolean<S>("renegotiation", FIELD(tls.renegotiation),
                   "allow client-initiated renegotiation (weak)", true,
                   "renegotiation = true lets clients renegotiate, a denial-of-service lever "
                   "that bettercrypto recommends turning off"),
        boolean<S>("compression", FIELD(tls.compression), "TLS compression (CRIME)", true,
                   "compression = true turns on TLS compression, which leaks secrets through "
                   "compressed lengths (CRIME); only use it if you must"),
        boolean<S>("tickets", FIELD(tls.tickets), "server mode: session tickets"),
        path<S>("ticket_key_file", FIELD(tls.ticket_key_file),
                "ticket keys, one a line; the first encrypts; reloaded when it changes"),
        duration<S>("ticket_rotation", FIELD(tls.ticket_rotation),
                    "rotation of generated ticket keys"),
        hex_secret<S>("ticket_key_secret", FIELD(tls.ticket_key_secret),
                      "one fixed ticket encryption key (stunnel's ticketKeySecret)"),
        hex_secret<S>("ticket_mac_secret", FIELD(tls.ticket_mac_secret),
                      "one fixed ticket MAC key (stunnel's ticketMacSecret)"),
        boolean<S>("session_cache", FIELD(tls.session_cache),
                   "server mode: OpenSSL's session cache"),
        integer<S>("session_cache_size", FIELD(tls.session_cache_size), 0, 1 << 30,
                   "session cache entries; 0 = no limit"),
        duration<S>("session_cache_timeout", FIELD(tls.session_cache_timeout),
                    "session cache lifetime"),
        boolean<S>("session_resume", FIELD(tls.session_resume),
                   "client mode: resume sessions toward the backend"),
    };
}

std::vector<Key<Service>> make_service_keys() {
    return {
        key<S>(
            "name", "string (letters, digits, '.', '_', '-')", "the service's name (required)",
            [](TomlReader& r, const toml::node& n, const std::string& k, Service& s) {
                auto name = r.get_string(n, k);
                if (!name) {
                    return false;
                }
                if (!valid_service_name(*name)) {
                    r.error(line_of(n), k,
                            fmt::format("invalid service name \"{}\": use letters, digits, '.', "
                                        "'_' and '-' only",
                                        *name));
                    return false;
                }
                s.name = std::move(*name);
                return true;
            },
            [](const Service& s) -> Text { return toml_quote(s.name); }),
        key<S>(
            "listen", "address (HOST:PORT, [V6]:PORT, unix:PATH)",
            "where clients connect (required unless inetd or sni_parent)",
            [](TomlReader& r, const toml::node& n, const std::string& k, Service& s) {
                auto a = r.get_address(n, k, true);
                if (a) {
                    s.listen = *a;
                }
                return a.has_value();
            },
            [](const Service& s) -> Text {
                return s.inetd || s.sni_parent ? std::nullopt
                                               : Text(toml_quote(s.listen.to_string()));
            }),
        path<S>("exec", FIELD(exec), "a program per connection on stdin/stdout, not a backend"),
        derived<S>(
            key<S>(
                "exec_args", "string or array of strings", "exec's argv, argv[0] first",
                [](TomlReader& r, const toml::node& n, const std::string& k, Service& s) {
                    auto l = r.get_string_list(n, k);
                    if (l) {
                        s.exec_args = std::move(*l);
                    }
                    return l.has_value();
                },
                [](const Service& s) -> Text {
                    return s.exec ? Text(toml_list(s.exec_args)) : std::nullopt;
                }),
            [](const Service& s) -> Text {
                if (!s.exec) {
                    return std::nullopt;
                }
                return toml_list({std::filesystem::path(*s.exec).filename().string()});
            },
            "[exec's file name]"),
        key<S>(
            "backend", "address or array of addresses",
            "where connections go, tried per failover (required unless exec)",
            [](TomlReader& r, const toml::node& n, const std::string& k, Service& s) {
                auto list = r.get_string_list(n, k);
                if (!list) {
                    return false;
                }
                bool ok = !list->empty();
                if (list->empty()) {
                    r.error(line_of(n), k, "needs at least one address");
                }
                for (const auto& text : *list) {
                    auto parsed = net::parse_address(text, false);
                    if (!parsed) {
                        r.error(line_of(n), k, parsed.error().message);
                        ok = false;
                    } else {
                        s.backends.push_back(std::move(*parsed));
                    }
                }
                return ok;
            },
            [](const Service& s) -> Text {
                if (s.exec) {
                    return std::nullopt;
                }
                std::vector<std::string> backends;
                for (const auto& b : s.backends) {
                    backends.push_back(b.to_string());
                }
                return toml_list(backends);
            }),
        choice<S>("failover", FIELD(failover), failovers,
                  "prio: first backend that answers; rr: round robin"),
        boolean<S>("retry", FIELD(retry), "restart the exec'd program when it exits"),
        boolean<S>("inetd", FIELD(inetd), "no listener: the one connection is on stdin/stdout"),
        boolean<S>("proxy_header", FIELD(proxy_header), "send a PROXY v1 header to the backend"),
        string<S>("local", FIELD(local), "source IP address for backend connections"),
        boolean<S>("resolve_at_start", FIELD(resolve_at_start),
                   "resolve backend names once at start, not per connection"),
        boolean<S>("reset", FIELD(reset), "send RST (not FIN) toward the client on error"),
        key<S>(
            "socket_options", "string or array of strings (a|l|r:NAME=VALUE)",
            "setsockopt on the accepting (a), client (l) or backend (r) socket",
            [](TomlReader& r, const toml::node& n, const std::string& k, Service& s) {
                auto l = r.get_string_list(n, k);
                if (!l) {
                    return false;
                }
                bool ok = true;
                for (const auto& text : *l) {
                    if (auto o = parse_socket_option(text)) {
                        o->where = r.loc(n);
                        s.socket_options.push_back(std::move(*o));
                    } else {
                        r.error(line_of(n), k, o.error().message);
                        ok = false;
                    }
                }
                return ok;
            },
            [](const Service& s) -> Text {
                std::vector<std::string> options;
                for (const auto& o : s.socket_options) {
                    options.push_back(fmt::format("{}:{}={}", o.side, o.name, o.value));
                }
                return options.empty() ? std::nullopt : Text(toml_list(options));
            }),
        string<S>("sni_parent", FIELD(sni_parent),
                  "take connections from this service's listener whose SNI matches"),
        string<S>("sni_pattern", FIELD(sni_pattern),
                  "the SNI pattern for sni_parent; '*' as leftmost label matches one label"),
        boolean<S>("strict_sni", FIELD(strict_sni),
                   "refuse a ClientHello whose SNI no child or certificate matches"),
        choice<S>("log_level", FIELD(log_level), log_levels, "this service's log level"),
        choice<S>("protocol", FIELD(protocol), protocols, "the mail protocol spoken"),
        choice<S>("tls", FIELD(tls_mode), tls_modes, "TLS from the first byte, or after STARTTLS"),
        boolean<S>("client", FIELD(client),
                   "client mode: plaintext listener, TLS toward the backend"),
        derived<S>(
            choice<S>("starttls_policy", FIELD(starttls_policy), starttls_policies,
                      "may: plaintext allowed; encrypt: STARTTLS required"),
            [](const Service& s) -> Text {
                return toml_quote(to_string(default_starttls_policy(s)));
            },
            "may for server-mode SMTP, else encrypt"),
        boolean<S>("auth_requires_tls", FIELD(auth_requires_tls), "refuse logins before STARTTLS",
                   false,
                   "auth_requires_tls = false lets clients send credentials before STARTTLS, in "
                   "cleartext"),
        boolean<S>("allow_xclient", FIELD(allow_xclient),
                   "SMTP, POP3: let clients send XCLIENT/XFORWARD", true,
                   "allow_xclient = true lets every client of this service tell the backend which "
                   "address and name to believe"),
        derived<S>(
            choice<S>("early_talker", FIELD(early_talker), early_talkers,
                      "SMTP: a client that talks before the greeting"),
            [](const Service& s) -> Text { return toml_quote(to_string(default_early_talker(s))); },
            "reject with tls = starttls and starttls_policy = may, else hold"),
        duration<S>("handshake_timeout", FIELD(handshake_timeout), "TLS handshake limit"),
        duration<S>("connect_timeout", FIELD(connect_timeout), "backend connect limit"),
        duration<S>("idle_timeout", FIELD(idle_timeout), "idle connection limit"),
        duration<S>("plaintext_timeout", FIELD(plaintext_timeout),
                    "limit of the plaintext phase before STARTTLS"),
        duration<S>("close_timeout", FIELD(close_timeout),
                    "wait for the peer's close_notify/FIN after ours", true),
        integer<S>("max_errors", FIELD(max_errors), 1, std::numeric_limits<unsigned>::max(),
                   "protocol errors before the connection is closed"),
        integer<S>("max_line", FIELD(max_line), 512, 1048576, "longest command line accepted"),
    };
}

} // namespace

StarttlsPolicy default_starttls_policy(const Service& s) {
    // Server side, port 25 stays opportunistic; client mode refuses plaintext unless told
    // otherwise.
    return s.protocol == Protocol::smtp && !s.client ? StarttlsPolicy::may
                                                     : StarttlsPolicy::encrypt;
}

EarlyTalker default_early_talker(const Service& s) {
    // Port 25 (plaintext listener, opportunistic STARTTLS) is where bots talk first;
    // submission clients (587 "encrypt", 465 implicit TLS) are held instead.
    return s.tls_mode == TlsMode::starttls && s.starttls_policy == StarttlsPolicy::may
               ? EarlyTalker::reject
               : EarlyTalker::hold;
}

std::string_view tls_version_name(TlsVersion v) {
    return choice_name(std::span<const Choice<TlsVersion>>(tls_versions), v);
}

const std::vector<Key<Global>>& global_keys() {
    static const std::vector<Key<Global>> keys = make_global_keys();
    return keys;
}

const std::vector<Key<Service>>& tls_keys() {
    static const std::vector<Key<Service>> keys = make_tls_keys();
    return keys;
}

const std::vector<Key<Service>>& service_keys() {
    static const std::vector<Key<Service>> keys = make_service_keys();
    return keys;
}

// A TOML basic string.
std::string toml_quote(std::string_view s) {
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

std::string toml_list(const std::vector<std::string>& items) {
    std::string out = "[";
    for (size_t i = 0; i < items.size(); ++i) {
        out += (i ? ", " : "") + toml_quote(items[i]);
    }
    return out + "]";
}

} // namespace tlsgate::config
