#pragma once

#include "tlsgate/tls/openssl_ptr.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace tlsgate::tls {

// stunnel's sni = parent:pattern in server mode: on the parent's listener, the client's SNI
// picks a child service, whose SSL_CTX (certificate) then serves the handshake.
//
// Pattern rules: an exact host name, compared without regard to case; or "*.rest", where '*'
// stands for exactly one non-empty leftmost label ("*.example.org" matches
// "mail.example.org", not "example.org" nor "a.b.example.org"). A trailing dot on the name
// is ignored. Pure.
bool sni_matches(std::string_view pattern, std::string_view server_name);

class SniRouter {
public:
    struct Route {
        std::string pattern;
        SslCtxPtr ctx; // the child's context (kept alive by the router)
    };

    explicit SniRouter(std::vector<Route> routes) : routes_(std::move(routes)) {}
    SniRouter(const SniRouter&) = delete;
    SniRouter& operator=(const SniRouter&) = delete;

    // Hangs this router on the parent's context (ContextData::sni_router), for its
    // ClientHello callback (install_client_hello_checks) to route; `this` must outlive it.
    void install(SSL_CTX* parent);
    // The first route whose pattern matches, or -1 (then the parent serves).
    int match(std::string_view server_name) const;
    // From the ClientHello callback, before OpenSSL looks for a session to resume: switches
    // `ssl` to the matching child's context (certificate, session id context, peer checks)
    // and records the route; returns it, or -1 when no pattern matches.
    int route(SSL* ssl, std::string_view server_name) const;
    // After the ClientHello: the route chosen for this connection, or -1.
    static int chosen(const SSL* ssl);

private:
    static int acknowledge_servername(SSL* ssl, int* alert, void* arg);

    std::vector<Route> routes_;
};

} // namespace tlsgate::tls
