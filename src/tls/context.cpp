#include "tlsgate/tls/context.hpp"

#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <functional>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

namespace tlsgate::tls {
namespace {

using config::ConfigError;
using config::TlsProfile;

// Never prompt on a terminal for a passphrase: an encrypted key is a config error.
int refuse_passphrase(char*, int, int, void*) {
    return -1;
}

struct CertificateFile {
    std::vector<X509Ptr> chain; // leaf first
};

std::optional<CertificateFile> read_certificates(const std::string& path, std::string& error) {
    BioPtr bio(BIO_new_file(path.c_str(), "r"));
    if (!bio) {
        error = fmt::format("cannot read certificate file {}: {}", path, std::strerror(errno));
        ERR_clear_error();
        return std::nullopt;
    }
    CertificateFile file;
    while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, refuse_passphrase, nullptr)) {
        file.chain.emplace_back(cert);
    }
    // Reaching the end of the file after at least one certificate is the normal way out.
    const unsigned long last = ERR_peek_last_error();
    if (!file.chain.empty() && ERR_GET_REASON(last) == PEM_R_NO_START_LINE) {
        ERR_clear_error();
    }
    if (file.chain.empty()) {
        error = fmt::format("no PEM certificate found in {}", path);
        ERR_clear_error();
        return std::nullopt;
    }
    const std::string rest = take_openssl_errors();
    if (!rest.empty()) {
        error = fmt::format("bad PEM data in {}: {}", path, rest);
        return std::nullopt;
    }
    return file;
}

EvpPkeyPtr read_private_key(const std::string& path, std::string& error) {
    BioPtr bio(BIO_new_file(path.c_str(), "r"));
    if (!bio) {
        error = fmt::format("cannot read key file {}: {}", path, std::strerror(errno));
        ERR_clear_error();
        return nullptr;
    }
    EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, refuse_passphrase, nullptr));
    if (!key) {
        const std::string why = take_openssl_errors();
        error = fmt::format("no usable private key in {} (encrypted keys are not supported): {}",
                            path, why);
    }
    return key;
}

// DH parameters of a named group (RFC 7919), made without any prime search.
EvpPkeyPtr named_dh_group(const char* name) {
    EVP_PKEY_CTX* pctx = EVP_PKEY_CTX_new_from_name(nullptr, "DH", nullptr);
    EVP_PKEY* params = nullptr;
    if (pctx != nullptr && EVP_PKEY_paramgen_init(pctx) == 1 &&
        EVP_PKEY_CTX_set_group_name(pctx, name) == 1) {
        EVP_PKEY_paramgen(pctx, &params);
    }
    EVP_PKEY_CTX_free(pctx);
    return EvpPkeyPtr(params);
}

std::string subject_of(X509* cert) {
    char buffer[256];
    X509_NAME_oneline(X509_get_subject_name(cert), buffer, sizeof buffer);
    return buffer;
}

} // namespace

Policy resolve_policy(const config::TlsSettings& settings) {
    Policy policy;
    switch (settings.profile) {
    case TlsProfile::bettercrypto_b:
        policy.ciphers = kCipherStringB;
        policy.min_version = TLS1_2_VERSION;
        break;
    case TlsProfile::bettercrypto_a:
        policy.ciphers = kCipherStringA;
        policy.min_version = TLS1_2_VERSION;
        break;
    case TlsProfile::opportunistic:
        policy.ciphers = kCipherStringOpportunistic;
        policy.min_version = TLS1_VERSION;
        break;
    case TlsProfile::custom:
        policy.min_version = TLS1_2_VERSION;
        break;
    }
    if (settings.ciphers) {
        policy.ciphers = *settings.ciphers;
    }
    if (settings.ciphersuites) {
        policy.ciphersuites = *settings.ciphersuites;
    }
    if (settings.min_version != 0) {
        policy.min_version = settings.min_version;
    }
    policy.max_version = settings.max_version; // 0: the highest OpenSSL supports
    policy.groups = settings.groups.value_or(kDefaultGroups);
    return policy;
}

namespace {

// Everything both sides share: versions, cipher lists, groups, and the hardening options.
void apply_policy(SSL_CTX* ctx, const config::TlsSettings& settings,
                  const std::function<void(const std::string&, std::string)>& fail) {
    const Policy policy = resolve_policy(settings);
    // The hardening the Applied Crypto Hardening guide asks of every endpoint, said explicitly
    // even where OpenSSL 3 already defaults to it.
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_SINGLE_DH_USE | SSL_OP_SINGLE_ECDH_USE);
    SSL_CTX_clear_options(ctx, SSL_OP_ALLOW_CLIENT_RENEGOTIATION | SSL_OP_LEGACY_SERVER_CONNECT);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_default_passwd_cb(ctx, refuse_passphrase);
    if (SSL_CTX_set_min_proto_version(ctx, policy.min_version) != 1) {
        fail("min_version", "unsupported minimum TLS version: " + take_openssl_errors());
    }
    if (SSL_CTX_set_max_proto_version(ctx, policy.max_version) != 1) {
        fail("max_version", "unsupported maximum TLS version: " + take_openssl_errors());
    }
    if (!policy.ciphers.empty() && SSL_CTX_set_cipher_list(ctx, policy.ciphers.c_str()) != 1) {
        fail("ciphers",
             fmt::format("no usable cipher in \"{}\": {}", policy.ciphers, take_openssl_errors()));
    }
    if (!policy.ciphersuites.empty() &&
        SSL_CTX_set_ciphersuites(ctx, policy.ciphersuites.c_str()) != 1) {
        fail("ciphersuites", fmt::format("no usable TLS 1.3 suite in \"{}\": {}",
                                         policy.ciphersuites, take_openssl_errors()));
    }
    if (SSL_CTX_set1_groups_list(ctx, policy.groups.c_str()) != 1) {
        fail("groups",
             fmt::format("unknown group in \"{}\": {}", policy.groups, take_openssl_errors()));
    }
}

// Certificates (whole chain, order checked) and their keys (matching).
void load_certificates(SSL_CTX* ctx, const config::TlsSettings& settings,
                       const std::string& key_prefix, ContextResult& result,
                       const std::function<void(const std::string&, std::string)>& fail) {
    if (settings.cert.size() != settings.key.size()) {
        fail("key", fmt::format("{} certificate file(s) but {} key file(s)", settings.cert.size(),
                                settings.key.size()));
    }
    for (size_t i = 0; i < settings.cert.size() && i < settings.key.size(); ++i) {
        std::string error;
        auto certs = read_certificates(settings.cert[i], error);
        if (!certs) {
            fail("cert", error);
            continue;
        }
        X509* leaf = certs->chain.front().get();
        bool chain_ok = true;
        for (size_t c = 0; c + 1 < certs->chain.size(); ++c) {
            if (X509_check_issued(certs->chain[c + 1].get(), certs->chain[c].get()) != X509_V_OK) {
                fail("cert",
                     fmt::format("{}: chain out of order: certificate #{} ({}) did not "
                                 "issue certificate #{} ({}); list the leaf first, then "
                                 "each issuer",
                                 settings.cert[i], c + 2, subject_of(certs->chain[c + 1].get()),
                                 c + 1, subject_of(certs->chain[c].get())));
                chain_ok = false;
                break;
            }
        }
        if (X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0) {
            result.warnings.push_back(ConfigError{
                settings.locate("cert"), key_prefix + ".cert",
                fmt::format("{}: certificate {} has expired", settings.cert[i], subject_of(leaf))});
        }
        auto key = read_private_key(settings.key[i], error);
        if (!key) {
            fail("key", error);
            continue;
        }
        if (X509_check_private_key(leaf, key.get()) != 1) {
            ERR_clear_error();
            fail("key", fmt::format("{} does not match the certificate in {}", settings.key[i],
                                    settings.cert[i]));
            continue;
        }
        if (!chain_ok) {
            continue;
        }
        if (SSL_CTX_use_certificate(ctx, leaf) != 1) {
            fail("cert", fmt::format("{}: certificate rejected: {}", settings.cert[i],
                                     take_openssl_errors()));
            continue;
        }
        for (size_t c = 1; c < certs->chain.size(); ++c) {
            // add1 takes its own reference; ours is released with `certs`.
            SSL_CTX_add1_chain_cert(ctx, certs->chain[c].get());
        }
        if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
            fail("key",
                 fmt::format("{}: key rejected: {}", settings.key[i], take_openssl_errors()));
        }
    }
}

} // namespace

ContextResult build_server_context(const config::TlsSettings& settings,
                                   const std::string& key_prefix) {
    ContextResult result;
    auto fail = [&](const std::string& key_name, std::string message) {
        result.errors.push_back(ConfigError{settings.locate(key_name), key_prefix + "." + key_name,
                                            std::move(message)});
    };
    SslCtxPtr ctx = make_ctx_ptr(SSL_CTX_new(TLS_server_method()));
    if (!ctx) {
        fail("profile", "cannot create TLS context: " + take_openssl_errors());
        return result;
    }
    apply_policy(ctx.get(), settings, fail);
    SSL_CTX_set_options(ctx.get(), SSL_OP_CIPHER_SERVER_PREFERENCE);
    static const unsigned char kSessionContext[] = "tlsgate";
    SSL_CTX_set_session_id_context(ctx.get(), kSessionContext, sizeof kSessionContext - 1);

    if (settings.dhparam) {
        BioPtr bio(BIO_new_file(settings.dhparam->c_str(), "r"));
        EvpPkeyPtr dh(bio ? PEM_read_bio_Parameters(bio.get(), nullptr) : nullptr);
        if (!bio) {
            fail("dhparam",
                 fmt::format("cannot read {}: {}", *settings.dhparam, std::strerror(errno)));
        } else if (!dh) {
            fail("dhparam", fmt::format("no DH parameters in {}: {}", *settings.dhparam,
                                        take_openssl_errors()));
        } else if (EVP_PKEY_get_bits(dh.get()) < 2048) {
            fail("dhparam", fmt::format("DH parameters in {} have {} bits; at least 2048 required",
                                        *settings.dhparam, EVP_PKEY_get_bits(dh.get())));
        } else if (SSL_CTX_set0_tmp_dh_pkey(ctx.get(), dh.get()) == 1) {
            dh.release(); // owned by the context now
        } else {
            fail("dhparam", "cannot use DH parameters: " + take_openssl_errors());
        }
    } else {
        // RFC 7919 ffdhe2048 (OpenSSL's "auto" would pick an RFC 3526 MODP group instead).
        EvpPkeyPtr dh = named_dh_group("ffdhe2048");
        if (!dh || SSL_CTX_set0_tmp_dh_pkey(ctx.get(), dh.get()) != 1) {
            fail("dhparam", "cannot set up the ffdhe2048 group: " + take_openssl_errors());
        } else {
            dh.release(); // owned by the context now
        }
    }
    load_certificates(ctx.get(), settings, key_prefix, result, fail);
    if (result.errors.empty()) {
        result.ctx = std::move(ctx);
    }
    return result;
}

ContextResult build_client_context(const config::TlsSettings& settings,
                                   const std::string& key_prefix) {
    ContextResult result;
    auto fail = [&](const std::string& key_name, std::string message) {
        result.errors.push_back(ConfigError{settings.locate(key_name), key_prefix + "." + key_name,
                                            std::move(message)});
    };
    SslCtxPtr ctx = make_ctx_ptr(SSL_CTX_new(TLS_client_method()));
    if (!ctx) {
        fail("profile", "cannot create TLS context: " + take_openssl_errors());
        return result;
    }
    apply_policy(ctx.get(), settings, fail);
    if (settings.verify == config::VerifyMode::peer) {
        SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
        if (settings.ca_file || settings.ca_path) {
            const char* file = settings.ca_file ? settings.ca_file->c_str() : nullptr;
            const char* path = settings.ca_path ? settings.ca_path->c_str() : nullptr;
            if (SSL_CTX_load_verify_locations(ctx.get(), file, path) != 1) {
                fail(settings.ca_file ? "ca_file" : "ca_path",
                     fmt::format("cannot load CA certificates from {}: {}",
                                 file != nullptr ? file : path, take_openssl_errors()));
            }
        } else if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
            fail("verify", "cannot load the system trust store: " + take_openssl_errors());
        }
    } else {
        SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
    }
    load_certificates(ctx.get(), settings, key_prefix, result, fail);
    if (result.errors.empty()) {
        result.ctx = std::move(ctx);
    }
    return result;
}

} // namespace tlsgate::tls
