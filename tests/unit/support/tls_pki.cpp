#include "support/tls_pki.hpp"

#include "support/test_certs.hpp"
#include "tlsgate/tls/context.hpp"

#include <catch2/catch.hpp>
#include <cstdio>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdexcept>
#include <vector>

namespace tlsgate::test {
namespace {

// A CRL by `issuer` listing `revoked_serials`, valid for a day.
std::string crl_pem(const IssuedCert& issuer, const std::vector<long>& revoked_serials) {
    X509_CRL* crl = X509_CRL_new();
    X509_CRL_set_version(crl, 1);
    X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer.cert));
    ASN1_TIME* last = X509_gmtime_adj(nullptr, -60);
    ASN1_TIME* next = X509_gmtime_adj(nullptr, 3600L * 24);
    X509_CRL_set1_lastUpdate(crl, last);
    X509_CRL_set1_nextUpdate(crl, next);
    for (long serial : revoked_serials) {
        X509_REVOKED* revoked = X509_REVOKED_new();
        ASN1_INTEGER* number = ASN1_INTEGER_new();
        ASN1_INTEGER_set(number, serial);
        X509_REVOKED_set_serialNumber(revoked, number);
        X509_REVOKED_set_revocationDate(revoked, last);
        X509_CRL_add0_revoked(crl, revoked);
        ASN1_INTEGER_free(number);
    }
    ASN1_TIME_free(last);
    ASN1_TIME_free(next);
    X509_CRL_sort(crl);
    X509_CRL_sign(crl, issuer.key, EVP_sha256());
    std::string text = pem_of(crl);
    X509_CRL_free(crl);
    return text;
}

TlsPki make() {
    const IssuedCert root =
        issue_cert(KeyType::p256, "tlsgate tls root", nullptr, CertRole::ca, 1, nullptr);
    const IssuedCert mid =
        issue_cert(KeyType::p256, "tlsgate tls intermediate", &root, CertRole::ca, 2, nullptr);
    const char* server_san = "DNS:localhost,IP:127.0.0.1";
    const IssuedCert rsa =
        issue_cert(KeyType::rsa2048, "localhost", &mid, CertRole::end_entity, 10, server_san);
    const IssuedCert ec =
        issue_cert(KeyType::p256, "localhost", &mid, CertRole::end_entity, 11, server_san);
    const char* client_san = "email:alice@example.org,IP:192.0.2.7";
    const IssuedCert client =
        issue_cert(KeyType::p256, "client", &mid, CertRole::end_entity, 12, client_san);
    const IssuedCert revoked =
        issue_cert(KeyType::p256, "revoked client", &mid, CertRole::end_entity, 13, client_san);
    const IssuedCert pinned =
        issue_cert(KeyType::p256, "localhost", nullptr, CertRole::end_entity, 20, server_san);
    const IssuedCert unpinned =
        issue_cert(KeyType::p256, "localhost", nullptr, CertRole::end_entity, 21, server_san);

    TlsPki pki;
    const std::string mid_pem = pem_of(mid.cert);
    pki.root_cert = write_temp_file("tls-root.pem", pem_of(root.cert));
    pki.rsa_chain = write_temp_file("tls-rsa.pem", pem_of(rsa.cert) + mid_pem);
    pki.rsa_key = write_temp_file("tls-rsa.key", pem_of(rsa.key));
    pki.ec_chain = write_temp_file("tls-ec.pem", pem_of(ec.cert) + mid_pem);
    pki.ec_key = write_temp_file("tls-ec.key", pem_of(ec.key));
    pki.client_chain = write_temp_file("tls-client.pem", pem_of(client.cert) + mid_pem);
    pki.client_key = write_temp_file("tls-client.key", pem_of(client.key));
    pki.revoked_chain = write_temp_file("tls-revoked.pem", pem_of(revoked.cert) + mid_pem);
    pki.revoked_key = write_temp_file("tls-revoked.key", pem_of(revoked.key));
    pki.crls = write_temp_file("tls-crls.pem", crl_pem(root, {}) + crl_pem(mid, {13}));
    pki.pinned_cert = write_temp_file("tls-pinned.pem", pem_of(pinned.cert));
    pki.pinned_key = write_temp_file("tls-pinned.key", pem_of(pinned.key));
    pki.unpinned_cert = write_temp_file("tls-unpinned.pem", pem_of(unpinned.cert));
    pki.unpinned_key = write_temp_file("tls-unpinned.key", pem_of(unpinned.key));
    pki.pins_file = write_temp_file("tls-pins.pem", pem_of(pinned.cert));
    for (const IssuedCert* i : {&root, &mid, &rsa, &ec, &client, &revoked, &pinned, &unpinned}) {
        X509_free(i->cert);
        EVP_PKEY_free(i->key);
    }
    return pki;
}

} // namespace

const TlsPki& tls_pki() {
    static const TlsPki pki = make();
    return pki;
}

config::TlsSettings rsa_server_settings() {
    config::TlsSettings settings;
    settings.cert = {tls_pki().rsa_chain};
    settings.key = {tls_pki().rsa_key};
    settings.section = {"test.toml", 3};
    return settings;
}

tls::SslCtxPtr build_server_or_fail(const config::TlsSettings& settings, const std::string& label) {
    auto result = tls::build_server_context(settings, label);
    for (const auto& error : result.errors) {
        FAIL(error.to_string());
    }
    return result.ctx;
}

std::string random_ticket_key_line() {
    unsigned char bytes[80];
    RAND_bytes(bytes, sizeof bytes);
    std::string hex;
    for (unsigned char b : bytes) {
        char pair[3];
        std::snprintf(pair, sizeof pair, "%02x", b);
        hex += pair;
    }
    return hex;
}

std::string write_ticket_key_file(const std::string& name, const std::string& content) {
    const std::string path = write_temp_file(name, "");
    const std::string fresh = write_temp_file(name + ".new", content);
    std::rename(fresh.c_str(), path.c_str());
    return path;
}

} // namespace tlsgate::test
