#pragma once

#include "tlsgate/tls/engine.hpp"
#include "tlsgate/tls/openssl_ptr.hpp"

#include <catch2/catch.hpp>
#include <openssl/ssl.h>

namespace tlsgate::test {

// A server engine and a client engine talking in memory.
struct MemoryHandshake {
    tls::TlsEngine server;
    tls::TlsEngine client;
    tls::TlsEngine::Status server_status = tls::TlsEngine::Status::want_io;
    tls::TlsEngine::Status client_status = tls::TlsEngine::Status::want_io;

    MemoryHandshake(SSL_CTX* server_ctx, SSL_CTX* client_ctx)
        : server(server_ctx, true), client(client_ctx, false) {}

    static void pump(tls::TlsEngine& from, tls::TlsEngine& to) {
        char buffer[16384];
        while (size_t n = from.take_ciphertext(buffer, sizeof buffer)) {
            to.feed(buffer, n);
        }
    }

    bool run() {
        using Status = tls::TlsEngine::Status;
        for (int round = 0; round < 10; ++round) {
            if (client_status == Status::want_io) {
                client_status = client.handshake();
            }
            pump(client, server);
            if (server_status == Status::want_io) {
                server_status = server.handshake();
            }
            pump(server, client);
            if (client_status == Status::error || server_status == Status::error) {
                return false;
            }
            if (client_status == Status::ok && server_status == Status::ok) {
                settle();
                return true;
            }
        }
        return false;
    }

    // Lets each side read what the other sent after the handshake (TLS 1.3 session tickets
    // reach the client only when it reads).
    void settle() {
        char buffer[256];
        size_t size = 0;
        for (int i = 0; i < 2; ++i) {
            pump(server, client);
            client.read(buffer, sizeof buffer, size);
            pump(client, server);
            server.read(buffer, sizeof buffer, size);
        }
    }

    // The client's session, for the next handshake to resume.
    tls::SslSessionPtr client_session() const {
        return tls::SslSessionPtr(SSL_get1_session(client.native()));
    }
};

inline tls::SslCtxPtr plain_client_context(int min_version = TLS1_2_VERSION, int max_version = 0) {
    auto ctx = tls::make_ctx_ptr(SSL_CTX_new(TLS_client_method()));
    SSL_CTX_set_min_proto_version(ctx.get(), min_version);
    SSL_CTX_set_max_proto_version(ctx.get(), max_version);
    return ctx;
}

// One handshake offering `session` (may be null), with SNI `server_name` when not null; true
// when it completed, `reused` says whether the session was resumed, `next` is the client's
// session afterwards.
inline bool handshake_with(SSL_CTX* server_ctx, SSL_CTX* client_ctx, SSL_SESSION* session,
                           bool& reused, tls::SslSessionPtr* next = nullptr,
                           const char* server_name = nullptr) {
    MemoryHandshake handshake(server_ctx, client_ctx);
    if (server_name != nullptr) {
        SSL_set_tlsext_host_name(handshake.client.native(), server_name);
    }
    if (session != nullptr) {
        SSL_set_session(handshake.client.native(), session);
    }
    const bool ok = handshake.run();
    reused = ok && handshake.client.session_reused();
    if (next != nullptr) {
        *next = handshake.client_session();
    }
    return ok;
}

// A first handshake with `first_server`, then a second with `second_server` offering the
// first one's session, both at `version`: was it resumed?
inline bool resumes(SSL_CTX* first_server, SSL_CTX* second_server, int version) {
    auto client = plain_client_context(version, version);
    bool reused = false;
    tls::SslSessionPtr session;
    REQUIRE(handshake_with(first_server, client.get(), nullptr, reused, &session));
    CHECK_FALSE(reused);
    REQUIRE(session);
    REQUIRE(handshake_with(second_server, client.get(), session.get(), reused));
    return reused;
}

} // namespace tlsgate::test
