#pragma once

#include "tlsgate/net/address.hpp"

#include <chrono>
#include <map>
#include <optional>
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

enum class LogLevel { debug, info, notice, warning, error };
enum class LogTarget { stderr_stream, syslog };
enum class TlsProfile { bettercrypto_b, bettercrypto_a, opportunistic, custom };
enum class Protocol { raw, imap, pop3, smtp };
enum class TlsMode { implicit, starttls };
enum class StarttlsPolicy { may, encrypt };
enum class VerifyMode { peer, none };

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
    std::map<std::string, Location> where;
    Location section;

    Location locate(const std::string& key_name) const;
};

struct Service {
    std::string name;
    net::Address listen;
    net::Address backend;
    Protocol protocol = Protocol::raw;
    TlsMode tls_mode = TlsMode::implicit;
    bool client = false; // client mode (issue 4): plaintext listener, TLS toward the backend
    StarttlsPolicy starttls_policy = StarttlsPolicy::encrypt;
    bool auth_requires_tls = true;
    Duration handshake_timeout{std::chrono::seconds(10)};
    Duration connect_timeout{std::chrono::seconds(5)};
    Duration idle_timeout{std::chrono::minutes(30)};
    Duration plaintext_timeout{std::chrono::seconds(60)};
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
    Duration drain_timeout{std::chrono::seconds(10)};
    std::map<std::string, Location> where;
};

// The one validated model every config source produces.
struct Config {
    std::string source_file;
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

const char* to_string(LogLevel);
const char* to_string(LogTarget);
const char* to_string(TlsProfile);
const char* to_string(Protocol);
const char* to_string(TlsMode);
const char* to_string(StarttlsPolicy);
const char* to_string(VerifyMode);

} // namespace tlsgate::config
