#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <string>

namespace tlsgate::test {

// A throwaway PKI written to a temporary directory: root CA -> intermediate -> leaf
// (RSA-2048, CN and SAN "localhost"), plus an unrelated key. Made in-process with OpenSSL.
struct TestPki {
    std::string dir;
    std::string leaf_cert;         // leaf only
    std::string chain_cert;        // leaf, then intermediate
    std::string wrong_order_chain; // intermediate, then leaf
    std::string leaf_key;
    std::string other_key;
    std::string root_cert;
};

const TestPki& test_pki(); // made once per test run
std::string write_temp_file(const std::string& name, const std::string& content);
std::string pem_of(X509* cert);
std::string pem_of(EVP_PKEY* key);

} // namespace tlsgate::test
