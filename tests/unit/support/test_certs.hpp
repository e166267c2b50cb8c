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
std::string pem_of(X509_CRL* crl);

// A certificate and its new key; the caller frees both.
struct IssuedCert {
    X509* cert = nullptr;
    EVP_PKEY* key = nullptr;
};
enum class KeyType { rsa2048, p256 };
enum class CertRole { ca, end_entity };
EVP_PKEY* make_key(KeyType type);
// Valid from an hour ago for 30 days, signed by `issuer` (null: self-signed); `san` is an
// OpenSSL subjectAltName value ("DNS:localhost,IP:127.0.0.1") or null for none.
IssuedCert issue_cert(KeyType type, const char* cn, const IssuedCert* issuer, CertRole role,
                      long serial, const char* san);

} // namespace tlsgate::test
