#pragma once

#include "tlsgate/config/model.hpp"
#include "tlsgate/tls/openssl_ptr.hpp"

#include <string>
#include <vector>

namespace tlsgate::tls {

// Cipher string B of the Applied Crypto Hardening guide (final version): the default for
// TLS 1.2 and below.
inline constexpr const char* kCipherStringB =
    "EDH+CAMELLIA:EDH+aRSA:EECDH+aRSA+AESGCM:EECDH+aRSA+SHA384:EECDH+aRSA+SHA256:EECDH:"
    "+CAMELLIA256:+AES256:+CAMELLIA128:+AES128:+SSLv3:!aNULL:!eNULL:!LOW:!3DES:!MD5:!EXP:!PSK:"
    "!DSS:!RC4:!SEED:!ECDSA:CAMELLIA256-SHA:AES256-SHA:CAMELLIA128-SHA:AES128-SHA";
// Cipher string A ("strong, restrictive").
inline constexpr const char* kCipherStringA = "EDH+aRSA+AES256:EECDH+aRSA+AES256:!SSLv3";
// Opportunistic (MTA-to-MTA): any authenticated encryption beats plaintext. TLS 1.0/1.1 need
// security level 0 in OpenSSL 3 (SHA-1 signatures).
inline constexpr const char* kCipherStringOpportunistic = "ALL:!aNULL:!eNULL:@SECLEVEL=0";
inline constexpr const char* kDefaultGroups = "X25519:P-256:P-384";

// The effective policy a TlsSettings resolves to; exposed so tests can check it.
struct Policy {
    int min_version = 0;
    int max_version = 0;
    std::string ciphers;
    std::string ciphersuites; // empty: OpenSSL's TLS 1.3 default
    std::string groups;
};
Policy resolve_policy(const config::TlsSettings& settings);

struct ContextResult {
    SslCtxPtr ctx; // null when errors is non-empty
    std::vector<config::ConfigError> errors;
    std::vector<config::ConfigError> warnings; // e.g. certificate expires soon
};

// Builds a server SSL_CTX: policy, certificates (whole chain, order checked), keys (matching
// their certificate), DH. `key_prefix` names the section in messages ("service[imaps]").
ContextResult build_server_context(const config::TlsSettings& settings,
                                   const std::string& key_prefix);

// Builds a client SSL_CTX for client mode: the same policy, peer verification against ca_file /
// ca_path or the system store (unless verify = "none"), and an optional client certificate.
// Host name checking and SNI are per connection (TlsEngine::set_peer_name).
ContextResult build_client_context(const config::TlsSettings& settings,
                                   const std::string& key_prefix);

} // namespace tlsgate::tls
