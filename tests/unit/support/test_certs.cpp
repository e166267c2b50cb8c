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

EVP_PKEY* make_rsa_key() {
    EVP_PKEY* key = EVP_RSA_gen(2048);
    if (key == nullptr) {
        throw std::runtime_error("RSA key generation failed");
    }
    return key;
}

X509* make_cert(EVP_PKEY* key, const char* cn, X509* issuer, EVP_PKEY* issuer_key, bool ca,
                long serial) {
    X509* cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), serial);
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600L * 24 * 30);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn),
                               -1, -1, 0);
    X509_set_issuer_name(cert, issuer != nullptr ? X509_get_subject_name(issuer) : name);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer != nullptr ? issuer : cert, cert, nullptr, nullptr, 0);
    auto add = [&](int nid, const char* value) {
        X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
        X509_add_ext(cert, ext, -1);
        X509_EXTENSION_free(ext);
    };
    add(NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
    add(NID_subject_key_identifier, "hash");
    if (ca) {
        add(NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add(NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
    }
    X509_sign(cert, issuer_key != nullptr ? issuer_key : key, EVP_sha256());
    return cert;
}

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
    EVP_PKEY* root_key = make_rsa_key();
    EVP_PKEY* mid_key = make_rsa_key();
    EVP_PKEY* leaf_key = make_rsa_key();
    EVP_PKEY* other_key = make_rsa_key();
    X509* root = make_cert(root_key, "tlsgate test root", nullptr, nullptr, true, 1);
    X509* mid = make_cert(mid_key, "tlsgate test intermediate", root, root_key, true, 2);
    X509* leaf = make_cert(leaf_key, "localhost", mid, mid_key, false, 3);
    TestPki pki;
    pki.dir = temp_dir();
    pki.leaf_cert = write_temp_file("leaf.pem", pem_of(leaf));
    pki.chain_cert = write_temp_file("chain.pem", pem_of(leaf) + pem_of(mid));
    pki.wrong_order_chain = write_temp_file("wrong-order.pem", pem_of(mid) + pem_of(leaf));
    pki.leaf_key = write_temp_file("leaf.key", pem_of(leaf_key));
    pki.other_key = write_temp_file("other.key", pem_of(other_key));
    pki.root_cert = write_temp_file("root.pem", pem_of(root));
    for (X509* cert : {root, mid, leaf}) {
        X509_free(cert);
    }
    for (EVP_PKEY* key : {root_key, mid_key, leaf_key, other_key}) {
        EVP_PKEY_free(key);
    }
    return pki;
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
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, cert);
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio, &data);
    std::string text(data, static_cast<size_t>(size));
    BIO_free(bio);
    return text;
}

std::string pem_of(EVP_PKEY* key) {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio, &data);
    std::string text(data, static_cast<size_t>(size));
    BIO_free(bio);
    return text;
}

} // namespace tlsgate::test
