#pragma once

#include "tlsgate/net/address.hpp"

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace tlsgate::config {

// Where a value came from, so every later error can point at it.
struct Location {
    std::string file;
    int line = 0;
};

struct ConfigError {
    Location where;
    std::string key; // dotted, e.g. "service[imaps].cert" or "global.workers"; may be empty
    std::string message;

    // "FILE:LINE: KEY: MESSAGE" (the ": KEY" part only when key is set; the ":LINE" part only
    // when line > 0, e.g. for an unreadable file).
    std::string to_string() const;
};

using Duration = std::chrono::milliseconds;

// The front end a config was written for. Messages name keys in that format's spelling
// ("service[x].listen" in TOML, "service[x].accept" in stunnel.conf).
enum class ConfigFormat { toml, stunnel };

enum class LogLevel { debug, info, notice, warning, error };
enum class LogTarget { stderr_stream, syslog };
enum class LogFormat { text, json };
enum class TlsProfile { bettercrypto_b, bettercrypto_a, opportunistic, custom };
enum class Protocol { raw, imap, pop3, smtp };
enum class TlsMode { implicit, starttls };
enum class StarttlsPolicy { may, encrypt };
// SMTP client that sends before the greeting (a bot signature, Postfix postscreen's pregreet
// test): hold its bytes until the greeting, or refuse with 554 and close.
enum class EarlyTalker { hold, reject };
enum class VerifyMode { peer, none };
enum class Failover { prio, rr }; // stunnel's "failover": first that answers, or round robin

// Versions as the numbers OpenSSL uses (TLS1_VERSION ... TLS1_3_VERSION); 0 = profile default.
using TlsVersion = int;

// TLS settings: [tls] holds the defaults, a service may override any key. After loading,
// every service carries its fully merged settings; `where` remembers the location of every
// key that was set (by its bare name, e.g. "cert"), falling back to the section.
struct TlsSettings {
    std::vector<std::string> cert; // PEM files; a file may hold the chain after the leaf
    std::vector<std::string> key;  // one per cert
    TlsProfile profile = TlsProfile::bettercrypto_b;
    std::optional<std::string> ciphers;      // TLS <= 1.2 cipher list; profile default if unset
    std::optional<std::string> ciphersuites; // TLS 1.3 suites; OpenSSL default if unset
    TlsVersion min_version = 0;
    TlsVersion max_version = 0;
    std::optional<std::string> groups;  // e.g. "X25519:P-256:P-384"
    std::optional<std::string> dhparam; // PEM file; default: RFC 7919 ffdhe groups >= 2048
    // Client mode (TLS toward the backend). cert/key above are then an optional client
    // certificate.
    VerifyMode verify = VerifyMode::peer;
    std::optional<std::string> ca_file; // default: the system trust store
    std::optional<std::string> ca_path;
    std::optional<std::string> check_host; // default: the backend's host name
    std::optional<std::string> sni;        // default: the backend's host name (not an IP)

    // Peer certificate checks, made concrete by the loader (their defaults depend on the
    // mode): client mode defaults to verify_chain + require_cert (verify = "peer"); server mode
    // defaults to not asking for a client certificate at all. TOML: "verify_chain",
    // "verify_peer", "require_cert" (booleans; "verify" = "peer"/"none" sets all three).
    // stunnel: verify = 0..4, verifyChain, verifyPeer, requireCert.
    bool request_cert = false; // server mode: ask for a client certificate ("request_cert")
    bool require_cert = false; // fail the handshake without a peer certificate
    bool verify_chain = false; // the peer chain must verify against ca_file/ca_path
    bool verify_peer = false;  // the peer certificate must itself be in ca_file/ca_path
    std::optional<std::string> check_ip;    // "check_ip": the peer cert must carry this IP
    std::optional<std::string> check_email; // "check_email"
    std::optional<std::string> crl_file;    // "crl_file": PEM CRLs, checked for the whole chain
    std::optional<std::string> crl_path;    // "crl_path": hashed CRL directory

    // Extra SSL_OP_* switches by OpenSSL name without the prefix ("NO_TICKET"); TOML
    // "options" = ["NO_TICKET", "-NO_COMPRESSION"] (a leading '-' clears), as stunnel.
    std::vector<std::string> options_set;
    std::vector<std::string> options_clear;
    std::optional<int> security_level; // "security_level" 0..5; default OpenSSL's (2)
    bool renegotiation = false;        // "renegotiation": allow client renegotiation (weak)
    bool compression = false;          // "compression": TLS compression (CRIME); loud warning

    // Resumption. Server: tickets on by default, keys from ticket_key_file (first line
    // encrypts, every line decrypts; reloaded when the file changes) or generated at start
    // and rotated every ticket_rotation; plus OpenSSL's session cache for clients without
    // ticket support. Client: session_resume reuses sessions toward the backend.
    bool tickets = true;                              // "tickets"
    std::optional<std::string> ticket_key_file;       // "ticket_key_file"
    Duration ticket_rotation{std::chrono::hours(12)}; // "ticket_rotation"
    // stunnel's ticketKeySecret/ticketMacSecret: one fixed key (hex, 32 bytes each).
    std::optional<std::string> ticket_key_secret;            // "ticket_key_secret"
    std::optional<std::string> ticket_mac_secret;            // "ticket_mac_secret"
    bool session_cache = true;                               // "session_cache"
    size_t session_cache_size = 20480;                       // "session_cache_size" (0 = no limit)
    Duration session_cache_timeout{std::chrono::minutes(5)}; // "session_cache_timeout"
    bool session_resume = true;                              // "session_resume" (client mode)
    std::map<std::string, Location> where;
    Location section;
    // TOML: the TLS keys a service did not set itself (their values, if any, come from [tls]);
    // a problem among those alone is reported once, at [tls], not for every service. Empty
    // for [tls] itself and for stunnel.conf, where every service reports its own.
    std::set<std::string> not_set_here;
    // The TLS keys given with a value that did not parse (reported where they stand): rules
    // that need such a key skip it rather than call it missing.
    std::set<std::string> unparsed;

    Location locate(const std::string& key_name) const;
};

// A setsockopt, as stunnel's "socket" option: 'a' on the accepting (listening) socket, 'l' on
// the local socket (the accepted client connection), 'r' on the remote (backend) socket; TOML
// "socket_options" = ["l:TCP_NODELAY=1", "a:SO_KEEPALIVE=1"], the stunnel syntax.
struct SocketOption {
    char side = 'a';   // 'a', 'l' or 'r'
    std::string name;  // e.g. "TCP_NODELAY", "SO_KEEPALIVE", "SO_SNDBUF"
    std::string value; // as written; the option's table says how to read it
    Location where;
};

struct Service {
    std::string name;
    net::Address listen; // unset (kind tcp, empty host, port 0) when inetd
    // "backend": a string or an array; tried per `failover`. Empty when exec is set.
    std::vector<net::Address> backends;
    Failover failover = Failover::prio; // "failover" = "prio" | "rr"
    // "exec"/"exec_args": each connection is handed to a new child program on its
    // stdin/stdout (inetd-style backend). exec_args[0] is argv[0]; default: exec's basename.
    std::optional<std::string> exec;
    std::vector<std::string> exec_args;
    bool retry = false; // "retry": restart the exec'd program when it exits (inetd mode)
    // "inetd": no listener; the one connection is on stdin/stdout (stunnel with no section).
    bool inetd = false;
    bool proxy_header = false;        // "proxy_header": send a PROXY v1 header to the backend
    std::optional<std::string> local; // "local": source IP for backend connections
    bool resolve_at_start = false;    // "resolve_at_start": stunnel delay = no
    bool reset = true;                // "reset": RST (not FIN) toward the client on error
    std::vector<SocketOption> socket_options; // "socket_options"
    // Server-mode SNI routing (stunnel sni = parent:pattern): this service has no listener
    // of its own; it takes the connections on `sni_parent`'s listener whose SNI matches
    // `sni_pattern` ('*' as the leftmost label matches one label). TOML "sni_parent",
    // "sni_pattern".
    std::optional<std::string> sni_parent;
    std::optional<std::string> sni_pattern;
    // "strict_sni" (server mode, the listening service): refuse a ClientHello whose SNI
    // matches neither an SNI child's pattern nor a name of this service's certificates
    // (unrecognized_name alert). A ClientHello without SNI is still served. No stunnel
    // equivalent.
    bool strict_sni = false;
    std::optional<LogLevel> log_level; // "log_level": per-service override
    Protocol protocol = Protocol::raw;
    TlsMode tls_mode = TlsMode::implicit;
    bool client = false; // client mode (issue 4): plaintext listener, TLS toward the backend
    StarttlsPolicy starttls_policy = StarttlsPolicy::encrypt;
    bool auth_requires_tls = true;
    // SMTP, POP3: "allow_xclient": let clients send XCLIENT (SMTP also XFORWARD) and see it in
    // EHLO/CAPA. The backend trusts tlsgate's address, so by default refused and hidden.
    bool allow_xclient = false;
    // SMTP: "early_talker"; the loader defaults it to reject for tls = "starttls" with
    // starttls_policy "may" (an MX), hold otherwise.
    EarlyTalker early_talker = EarlyTalker::hold;
    Duration handshake_timeout{std::chrono::seconds(10)};
    Duration connect_timeout{std::chrono::seconds(5)};
    Duration idle_timeout{std::chrono::minutes(30)};
    Duration plaintext_timeout{std::chrono::seconds(60)};
    // "close_timeout": how long to wait for the peer's close_notify/FIN after ours.
    Duration close_timeout{std::chrono::seconds(60)};
    unsigned max_errors = 5;
    size_t max_line = 8192; // IMAP command line limit
    TlsSettings tls;
    std::map<std::string, Location> where;
    Location section;

    Location locate(const std::string& key_name) const;
};

struct Global {
    unsigned workers = 0; // 0 = one per core
    LogLevel log_level = LogLevel::info;
    LogTarget log_target = LogTarget::stderr_stream;
    LogFormat log_format = LogFormat::text; // "log_format": "json" writes one object a line
    Duration drain_timeout{std::chrono::seconds(10)};
    // Daemon duties (TOML keys in [global] are the field names).
    bool daemon = false;                  // stunnel foreground = no
    std::optional<std::string> pid_file;  // written after start, removed at exit
    std::optional<std::string> user;      // setuid after binding
    std::optional<std::string> group;     // setgid after binding
    std::optional<std::string> chroot;    // chroot after loading certificates
    std::optional<std::string> log_file;  // log here (reopened on SIGUSR1) instead of stderr
    bool log_append = true;               // "log_append": false truncates at start
    std::string syslog_ident = "tlsgate"; // "syslog_ident" (stunnel "service")
    bool fips = false;                    // "fips": refuse to start without the FIPS provider
    // "cert_expiry_warning": warn about a certificate that expires within this.
    Duration cert_expiry_warning{std::chrono::hours(14 * 24)};
    std::map<std::string, Location> where;
};

// The one validated model every config source produces.
struct Config {
    std::string source_file;
    ConfigFormat format = ConfigFormat::toml;
    Global global;
    std::vector<Service> services;
};

struct LoadResult {
    std::optional<Config> config; // set only when errors is empty
    // The best-effort model when there are errors (the file parsed, some values did not),
    // so the caller can still check certificates and report every error at once.
    std::optional<Config> partial;
    std::vector<ConfigError> errors;
    std::vector<ConfigError> warnings;
};

const char* to_string(ConfigFormat);
const char* to_string(LogLevel);
const char* to_string(LogTarget);
const char* to_string(LogFormat);
const char* to_string(TlsProfile);
const char* to_string(Protocol);
const char* to_string(TlsMode);
const char* to_string(StarttlsPolicy);
const char* to_string(EarlyTalker);
const char* to_string(VerifyMode);
const char* to_string(Failover);

} // namespace tlsgate::config
