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

struct Issued {
    X509* cert = nullptr;
    EVP_PKEY* key = nullptr;
};

EVP_PKEY* make_key(bool rsa) {
    EVP_PKEY* key = rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
    if (key == nullptr) {
        throw std::runtime_error("key generation failed");
    }
    return key;
}

Issued issue(bool rsa, const char* cn, const Issued* issuer, bool ca, long serial,
             const char* san) {
    Issued out;
    out.key = make_key(rsa);
    X509* cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), serial);
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600L * 24 * 30);
    X509_set_pubkey(cert, out.key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn),
                               -1, -1, 0);
    X509_set_issuer_name(cert, issuer != nullptr ? X509_get_subject_name(issuer->cert) : name);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer != nullptr ? issuer->cert : cert, cert, nullptr, nullptr, 0);
    auto add = [&](int nid, const char* value) {
        X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
        X509_add_ext(cert, ext, -1);
        X509_EXTENSION_free(ext);
    };
    add(NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
    add(NID_subject_key_identifier, "hash");
    if (ca) {
        add(NID_key_usage, "critical,keyCertSign,cRLSign");
    }
    if (san != nullptr) {
        add(NID_subject_alt_name, san);
    }
    X509_sign(cert, issuer != nullptr ? issuer->key : out.key, EVP_sha256());
    out.cert = cert;
    return out;
}

// A CRL by `issuer` listing `revoked_serials`, valid for a day.
std::string crl_pem(const Issued& issuer, const std::vector<long>& revoked_serials) {
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
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509_CRL(bio, crl);
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio, &data);
    std::string text(data, static_cast<size_t>(size));
    BIO_free(bio);
    X509_CRL_free(crl);
    return text;
}

TlsPki make() {
    const Issued root = issue(false, "tlsgate tls root", nullptr, true, 1, nullptr);
    const Issued mid = issue(false, "tlsgate tls intermediate", &root, true, 2, nullptr);
    const char* server_san = "DNS:localhost,IP:127.0.0.1";
    const Issued rsa = issue(true, "localhost", &mid, false, 10, server_san);
    const Issued ec = issue(false, "localhost", &mid, false, 11, server_san);
    const char* client_san = "email:alice@example.org,IP:192.0.2.7";
    const Issued client = issue(false, "client", &mid, false, 12, client_san);
    const Issued revoked = issue(false, "revoked client", &mid, false, 13, client_san);
    const Issued pinned = issue(false, "localhost", nullptr, false, 20, server_san);
    const Issued unpinned = issue(false, "localhost", nullptr, false, 21, server_san);

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
    for (const Issued* i : {&root, &mid, &rsa, &ec, &client, &revoked, &pinned, &unpinned}) {
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
