#include "tlsgate/config/validate.hpp"

#include "key_table.hpp"
#include "tlsgate/net/sockaddr.hpp"
#include "tlsgate/net/socket_options.hpp"

#include <algorithm>
#include <cctype>
#include <fmt/format.h>

namespace tlsgate::config {

namespace {

struct Spelling {
    std::string_view model_key;
    std::string_view stunnel;
};

// Only the keys whose stunnel.conf name differs from the model's.
constexpr Spelling stunnel_spellings[] = {
    {"listen", "accept"},
    {"backend", "connect"},
    {"exec_args", "execArgs"},
    {"socket_options", "socket"},
    {"sni_parent", "sni"},
    {"ticket_key_secret", "ticketKeySecret"},
    {"ticket_mac_secret", "ticketMacSecret"},
    {"sni_pattern", "sni"},
    {"min_version", "sslVersionMin"},
    {"max_version", "sslVersionMax"},
};

// What tls::sni_matches can match: a host name (dot-separated labels of letters, digits and
// '-'), or "*." before one, where '*' stands for exactly one leftmost label. Anything else
// ("a*.example.org", "*.*.example.org", an empty label, a trailing dot) would never match
// or match other than it reads.
bool valid_sni_pattern(std::string_view pattern) {
    if (pattern.starts_with("*.")) {
        pattern.remove_prefix(2);
    }
    if (pattern.empty()) {
        return false;
    }
    size_t label = 0;
    for (const char c : pattern) {
        if (c == '.') {
            if (label == 0) {
                return false;
            }
            label = 0;
            continue;
        }
        const bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                             (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (!allowed || ++label > 63) {
            return false;
        }
    }
    return label > 0;
}

bool equal_ignoring_case(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

// Reports rule violations of one config, labelled in its format's spelling.
class Validator {
public:
    Validator(const Config& config, std::vector<ConfigError>& errors)
        : config_(config), errors_(errors) {}

    void run() {
        for (size_t i = 0; i < config_.services.size(); ++i) {
            const Service& s = config_.services[i];
            check_sni(s);
            check_exec(s);
            check_socket_options(s);
            check_local(s);
            validate_tls(s.tls, label(s), config_.format, errors_);
            check_listen_clash(i);
        }
    }

private:
    std::string_view spell(std::string_view model_key) const {
        return key_spelling(config_.format, model_key);
    }
    // A key named inside a message: TOML quotes it ("exec"), stunnel.conf does not (exec).
    std::string quoted(std::string_view model_key) const {
        return config_.format == ConfigFormat::toml ? fmt::format("\"{}\"", spell(model_key))
                                                    : std::string(spell(model_key));
    }
    std::string label(const Service& s) const {
        if (s.where.count("name")) {
            return fmt::format("service[{}]", s.name);
        }
        return fmt::format("service[#{}]", &s - config_.services.data() + 1);
    }
    void error(const Service& s, std::string_view model_key, std::string message) {
        error_at(s.locate(std::string(model_key)), s, model_key, std::move(message));
    }
    void error_at(const Location& where, const Service& s, std::string_view model_key,
                  std::string message) {
        errors_.push_back(ConfigError{where, fmt::format("{}.{}", label(s), spell(model_key)),
                                      std::move(message)});
    }

    const Service* find(const std::string& name) const {
        auto it = std::find_if(config_.services.begin(), config_.services.end(),
                               [&](const Service& s) { return s.name == name; });
        return it == config_.services.end() ? nullptr : &*it;
    }

    void check_sni(const Service& s) {
        if (s.sni_parent.has_value() != s.sni_pattern.has_value()) {
            error_at(s.locate(s.sni_parent ? "sni_parent" : "sni_pattern"), s,
                     s.sni_parent ? "sni_pattern" : "sni_parent",
                     "sni_parent and sni_pattern go together");
        }
        if (s.strict_sni && s.sni_parent) {
            error(s, "strict_sni",
                  "strict_sni belongs on the SNI parent, whose listener reads the server name; "
                  "remove it here");
        }
        if (s.strict_sni && s.client) {
            error(s, "strict_sni",
                  "strict_sni is for server mode (it checks the server name clients send); "
                  "remove it or set client = false");
        }
        if (!s.sni_parent) {
            return;
        }
        const Service* parent = find(*s.sni_parent);
        std::string problem;
        if (!parent) {
            problem = fmt::format("no service named \"{}\"", *s.sni_parent);
        } else if (parent == &s) {
            problem = "a service cannot be its own SNI parent";
        } else if (parent->sni_parent) {
            problem = fmt::format("\"{}\" is itself an SNI service; name the service that "
                                  "owns the listener",
                                  *s.sni_parent);
        } else if (parent->client || s.client || parent->tls_mode != TlsMode::implicit ||
                   s.tls_mode != TlsMode::implicit) {
            problem = "SNI routing needs server mode with implicit TLS in both the parent and "
                      "the child";
        } else if (parent->inetd) {
            problem = fmt::format("\"{}\" is an inetd service", *s.sni_parent);
        }
        if (!problem.empty()) {
            error(s, "sni_parent", problem);
        }
        check_sni_pattern(s);
    }

    void check_sni_pattern(const Service& s) {
        if (!s.sni_pattern) {
            return;
        }
        if (!valid_sni_pattern(*s.sni_pattern)) {
            error(s, "sni_pattern",
                  fmt::format("invalid SNI pattern \"{}\": expected a host name (letters, "
                              "digits and '-' in dot-separated labels), or \"*.\" and one, "
                              "where '*' stands for one whole leftmost label",
                              *s.sni_pattern));
            return;
        }
        // Server names match without regard to case: of two siblings with the same pattern
        // the second is never chosen.
        for (const Service& earlier : config_.services) {
            if (&earlier == &s) {
                break;
            }
            if (earlier.sni_parent == s.sni_parent && earlier.sni_pattern &&
                equal_ignoring_case(*earlier.sni_pattern, *s.sni_pattern)) {
                error(s, "sni_pattern",
                      fmt::format("\"{}\" matches the same names as service {}'s \"{}\"",
                                  *s.sni_pattern, earlier.name, *earlier.sni_pattern));
                return;
            }
        }
    }

    void check_exec(const Service& s) {
        if (s.inetd && config_.services.size() > 1) {
            error(s, "inetd", "an inetd service must be the only service");
        }
        if (!s.exec_args.empty() && !s.exec) {
            error(s, "exec_args", fmt::format("{} needs {}", spell("exec_args"), quoted("exec")));
        }
        if (s.retry && !s.exec) {
            error(s, "retry", fmt::format("{} needs {}", spell("retry"), quoted("exec")));
        }
    }

    void check_socket_options(const Service& s) {
        for (const SocketOption& o : s.socket_options) {
            if (!net::find_socket_option(o.name)) {
                error_at(o.where, s, "socket_options",
                         fmt::format("unknown socket option \"{}\" (tlsgate -sockets lists the "
                                     "names)",
                                     o.name));
                continue;
            }
            if (auto parsed = net::parse_socket_option(o.name, o.value); !parsed) {
                error_at(o.where, s, "socket_options", parsed.error().message);
            }
        }
    }

    // The source address of backend connections is bound as is: no name lookup.
    void check_local(const Service& s) {
        if (!s.local) {
            return;
        }
        net::Address local;
        local.host = *s.local;
        if (!net::numeric_socket_address(local)) {
            error(s, "local", fmt::format("\"{}\" is not an IPv4 or IPv6 address", *s.local));
        }
    }

    // Only services whose listen address was read count (a key that failed has no location).
    // Two services of one name are already a duplicate-name error.
    void check_listen_clash(size_t index) {
        const Service& s = config_.services[index];
        if (!s.where.count("listen")) {
            return;
        }
        for (size_t j = 0; j < index; ++j) {
            const Service& prev = config_.services[j];
            if (!prev.where.count("listen") || prev.name == s.name ||
                !listen_clash(prev.listen, s.listen)) {
                continue;
            }
            const Location at = prev.locate("listen");
            const std::string prev_line = at.file == s.locate("listen").file
                                              ? fmt::format("line {}", at.line)
                                              : fmt::format("{}:{}", at.file, at.line);
            error(s, "listen",
                  fmt::format("{} address {} clashes with {} of {} ({})", spell("listen"),
                              s.listen.to_string(), prev.listen.to_string(), describe(j, prev),
                              prev_line));
        }
    }

    // A service's name as messages give it; a TOML service whose name is missing or invalid
    // is known by its position.
    static std::string describe(size_t index, const Service& s) {
        return s.where.count("name") ? fmt::format("service \"{}\"", s.name)
                                     : fmt::format("service #{}", index + 1);
    }

    static bool listen_clash(const net::Address& a, const net::Address& b) {
        if (a.kind != b.kind) {
            return false;
        }
        if (a.kind == net::Address::Kind::unix_socket) {
            return a.path == b.path;
        }
        if (a.port != b.port || a.port == 0) { // port 0: the kernel picks distinct ports
            return false;
        }
        if (a.host == b.host) {
            return true;
        }
        // A wildcard takes the port for its own address family only: tlsgate binds "[::]"
        // with IPV6_V6ONLY, so "0.0.0.0:N" and "[::]:N" coexist. Host names are compared as
        // written.
        auto is_v6 = [](const std::string& h) { return h.find(':') != std::string::npos; };
        if (is_v6(a.host) != is_v6(b.host)) {
            return false;
        }
        return a.host == "0.0.0.0" || b.host == "0.0.0.0" || a.host == "::" || b.host == "::";
    }

    const Config& config_;
    std::vector<ConfigError>& errors_;
};

} // namespace

std::string_view key_spelling(ConfigFormat format, std::string_view model_key) {
    if (format == ConfigFormat::stunnel) {
        for (const Spelling& s : stunnel_spellings) {
            if (s.model_key == model_key) {
                return s.stunnel;
            }
        }
    }
    return model_key;
}

void validate_tls(const TlsSettings& tls, std::string_view label, ConfigFormat format,
                  std::vector<ConfigError>& errors) {
    auto touched = [&](std::initializer_list<const char*> keys) {
        return std::any_of(keys.begin(), keys.end(),
                           [&](const char* k) { return tls.not_set_here.count(k) == 0; });
    };
    auto key = [&](std::string_view model_key) {
        return fmt::format("{}.{}", label, key_spelling(format, model_key));
    };
    if (tls.min_version != 0 && tls.max_version != 0 && tls.min_version > tls.max_version &&
        touched({"min_version", "max_version"})) {
        // stunnel.conf's sslVersion sets both: the message names no versions there.
        errors.push_back(
            ConfigError{tls.locate("min_version"), key("min_version"),
                        format == ConfigFormat::stunnel
                            ? std::string("sslVersionMin is greater than sslVersionMax")
                            : fmt::format("min_version {} is greater than max_version {}",
                                          tls_version_name(tls.min_version),
                                          tls_version_name(tls.max_version))});
    }
    const char* missing = tls.ticket_key_secret ? "ticket_mac_secret" : "ticket_key_secret";
    if (tls.ticket_key_secret.has_value() != tls.ticket_mac_secret.has_value() &&
        touched({"ticket_key_secret", "ticket_mac_secret"}) && !tls.unparsed.count(missing)) {
        // (A secret given but not hexadecimal is reported as such, not as missing.)
        const char* present = tls.ticket_key_secret ? "ticket_key_secret" : "ticket_mac_secret";
        errors.push_back(ConfigError{tls.locate(present), key(missing),
                                     fmt::format("{} and {} go together; {} is missing",
                                                 key_spelling(format, "ticket_key_secret"),
                                                 key_spelling(format, "ticket_mac_secret"),
                                                 key_spelling(format, missing))});
    }
}

void validate_config(const Config& config, std::vector<ConfigError>& errors) {
    Validator(config, errors).run();
}

} // namespace tlsgate::config
