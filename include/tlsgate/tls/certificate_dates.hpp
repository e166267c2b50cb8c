#pragma once

#include <chrono>
#include <ctime>
#include <openssl/ssl.h>
#include <string>
#include <vector>

namespace tlsgate::tls {

// The validity period of one certificate a context serves, copied out when the context is
// built (before workers share it), so later checks never touch the live SSL_CTX.
struct CertificateDates {
    std::string subject; // "/CN=mail.example.org"
    std::time_t not_before = 0;
    std::time_t not_after = 0;
};

// The leaf certificates of a built context (one per key type), in OpenSSL's order.
std::vector<CertificateDates> served_certificates(SSL_CTX* ctx);

// One message for each certificate that has expired, is not yet valid, or expires within
// `warn_within` of `now` (0: only expired and not yet valid); empty when all is well.
std::vector<std::string> validity_problems(const std::vector<CertificateDates>& certificates,
                                           std::chrono::seconds warn_within, std::time_t now);

} // namespace tlsgate::tls
