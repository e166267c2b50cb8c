#include "tlsgate/tls/context_data.hpp"

#include <cstring>

namespace tlsgate::tls {
namespace {

void free_context_data(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
    delete static_cast<ContextData*>(ptr);
}

// The ex_data slot is allocated once per process (OpenSSL's registry is process-wide); the
// index itself never changes after that.
int context_data_index() {
    static const int index =
        SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, free_context_data);
    return index;
}

int connection_sni_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

} // namespace

void set_connection_sni(SSL* ssl, const std::string* sni) {
    SSL_set_ex_data(ssl, connection_sni_index(), const_cast<std::string*>(sni));
}

const std::string* connection_sni(const SSL* ssl) {
    return static_cast<const std::string*>(SSL_get_ex_data(ssl, connection_sni_index()));
}

void ClientSessionCache::store(const std::string& sni, SSL_SESSION* session) {
    std::lock_guard lock(mutex_);
    sni_ = sni;
    session_.reset(session);
}

SslSessionPtr ClientSessionCache::find(const std::string& sni) const {
    std::lock_guard lock(mutex_);
    if (!session_ || SSL_SESSION_is_resumable(session_.get()) != 1) {
        return nullptr;
    }
    if (sni != sni_) {
        return nullptr; // made with another server
    }
    SSL_SESSION_up_ref(session_.get());
    return SslSessionPtr(session_.get());
}

ContextData* context_data(const SSL_CTX* ctx) {
    return static_cast<ContextData*>(SSL_CTX_get_ex_data(ctx, context_data_index()));
}

ContextData& attach_context_data(SSL_CTX* ctx) {
    if (ContextData* data = context_data(ctx)) {
        return *data;
    }
    auto* data = new ContextData;
    SSL_CTX_set_ex_data(ctx, context_data_index(), data); // freed by free_context_data
    return *data;
}

} // namespace tlsgate::tls
