#include "support/test_certs.hpp"

#include <cstdlib>
#include <fstream>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdexcept>
#include <unistd.h>

namespace tlsgate::test {
namespace {

std::string temp_dir() {
    static std::string dir = [] {
        char pattern[] = "/tmp/tlsgate-unit-XXXXXX";
        const char* made = mkdtemp(pattern);
        if (made == nullptr) {
            throw std::runtime_error("mkdtemp failed");
        }
        return std::string(made);
    }();
    return dir;
}

TestPki make_pki() {
    const char* san = "DNS:localhost,IP:127.0.0.1";
    const KeyType rsa = KeyType::rsa2048;
    const IssuedCert root = issue_cert(rsa, "tlsgate test root", nullptr, CertRole::ca, 1, nullptr);
    const IssuedCert mid =
        issue_cert(rsa, "tlsgate test intermediate", &root, CertRole::ca, 2, nullptr);
    const IssuedCert leaf = issue_cert(rsa, "localhost", &mid, CertRole::end_entity, 3, san);
    EVP_PKEY* other_key = make_key(rsa);
    TestPki pki;
    pki.dir = temp_dir();
    pki.leaf_cert = write_temp_file("leaf.pem", pem_of(leaf.cert));
    pki.chain_cert = write_temp_file("chain.pem", pem_of(leaf.cert) + pem_of(mid.cert));
    pki.wrong_order_chain =
        write_temp_file("wrong-order.pem", pem_of(mid.cert) + pem_of(leaf.cert));
    pki.leaf_key = write_temp_file("leaf.key", pem_of(leaf.key));
    pki.other_key = write_temp_file("other.key", pem_of(other_key));
    pki.root_cert = write_temp_file("root.pem", pem_of(root.cert));
    for (const IssuedCert* issued : {&root, &mid, &leaf}) {
        X509_free(issued->cert);
        EVP_PKEY_free(issued->key);
    }
    EVP_PKEY_free(other_key);
    return pki;
}

// What a PEM_write_bio_* call writes, as text.
template <typename Write> std::string pem_text(Write write) {
    BIO* bio = BIO_new(BIO_s_mem());
    write(bio);
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio, &data);
    std::string text(data, static_cast<size_t>(size));
    BIO_free(bio);
    return text;
}

} // namespace

std::string write_temp_file(const std::string& name, const std::string& content) {
    const std::string path = temp_dir() + "/" + name;
    std::ofstream(path, std::ios::binary) << content;
    return path;
}

const TestPki& test_pki() {
    static const TestPki pki = make_pki();
    return pki;
}

std::string pem_of(X509* cert) {
    return pem_text([&](BIO* bio) { PEM_write_bio_X509(bio, cert); });
}

std::string pem_of(EVP_PKEY* key) {
    return pem_text([&](BIO* bio) {
        PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
    });
}

std::string pem_of(X509_CRL* crl) {
    return pem_text([&](BIO* bio) { PEM_write_bio_X509_CRL(bio, crl); });
}

EVP_PKEY* make_key(KeyType type) {
    EVP_PKEY* key = type == KeyType::rsa2048 ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
    if (key == nullptr) {
        throw std::runtime_error("key generation failed");
    }
    return key;
}

IssuedCert issue_cert(KeyType type, const char* cn, const IssuedCert* issuer, CertRole role,
                      long serial, const char* san) {
    IssuedCert out;
    out.key = make_key(type);
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
    const bool ca = role == CertRole::ca;
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

} // namespace tlsgate::test
