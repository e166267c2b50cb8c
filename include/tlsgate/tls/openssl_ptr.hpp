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
using SslSessionPtr = std::unique_ptr<SSL_SESSION, OpenSslDeleter<SSL_SESSION_free>>;
using X509CrlPtr = std::unique_ptr<X509_CRL, OpenSslDeleter<X509_CRL_free>>;
inline void free_x509_names(STACK_OF(X509_NAME) * names) {
    sk_X509_NAME_pop_free(names, X509_NAME_free);
}
inline void free_x509_stack(STACK_OF(X509) * certs) {
    sk_X509_pop_free(certs, X509_free);
}
using X509NameStackPtr = std::unique_ptr<STACK_OF(X509_NAME), OpenSslDeleter<free_x509_names>>;
using X509StackPtr = std::unique_ptr<STACK_OF(X509), OpenSslDeleter<free_x509_stack>>;

inline SslCtxPtr make_ctx_ptr(SSL_CTX* ctx) {
    return SslCtxPtr(ctx, SSL_CTX_free);
}

// Drains OpenSSL's thread-local error queue into one readable string ("" when empty).
std::string take_openssl_errors();

} // namespace tlsgate::tls
