#pragma once

#include <memory>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <string>

namespace tlsgate::tls {

template <auto Free> struct OpenSslDeleter {
    template <typename T> void operator()(T* p) const { Free(p); }
};

using SslCtxPtr = std::shared_ptr<SSL_CTX>; // shared: live sessions keep theirs across reloads
using SslPtr = std::unique_ptr<SSL, OpenSslDeleter<SSL_free>>;
using BioPtr = std::unique_ptr<BIO, OpenSslDeleter<BIO_free_all>>;
using X509Ptr = std::unique_ptr<X509, OpenSslDeleter<X509_free>>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, OpenSslDeleter<EVP_PKEY_free>>;

inline SslCtxPtr make_ctx_ptr(SSL_CTX* ctx) {
    return SslCtxPtr(ctx, SSL_CTX_free);
}

// Drains OpenSSL's thread-local error queue into one readable string ("" when empty).
std::string take_openssl_errors();

} // namespace tlsgate::tls
