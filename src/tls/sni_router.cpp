#include "tlsgate/tls/sni_router.hpp"

#include "tlsgate/tls/context_data.hpp"

#include <cstdint>
#include <strings.h>

namespace tlsgate::tls {
namespace {

// The route chosen for a connection travels on the SSL itself, so the session can read it
// after the handshake without any state of its own in the callback. The index is process
// wide and never changes once made (OpenSSL hands it out under its own lock).
int route_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

bool equal_nocase(std::string_view a, std::string_view b) {
    return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

} // namespace

bool sni_matches(std::string_view pattern, std::string_view server_name) {
    if (!server_name.empty() && server_name.back() == '.') {
        server_name.remove_suffix(1);
    }
    if (pattern.empty() || server_name.empty()) {
        return false;
    }
    if (pattern.starts_with("*.")) {
        const size_t dot = server_name.find('.');
        if (dot == 0 || dot == std::string_view::npos) {
            return false;
        }
        return equal_nocase(pattern.substr(1), server_name.substr(dot));
    }
    return equal_nocase(pattern, server_name);
}

void SniRouter::install(SSL_CTX* parent) {
    route_index(); // made here, at start-up, rather than on a worker's first handshake
    // The ClientHello callback (install_client_hello_checks, on every server context) routes;
    // this one only acknowledges the name, which TLS <= 1.2 then keeps in the session.
    attach_context_data(parent).sni_router = this;
    SSL_CTX_set_tlsext_servername_callback(parent, acknowledge_servername);
}

int SniRouter::match(std::string_view server_name) const {
    for (size_t i = 0; i < routes_.size(); ++i) {
        if (sni_matches(routes_[i].pattern, server_name)) {
            return static_cast<int>(i);
        }
    }
    return -1;
}

int SniRouter::chosen(const SSL* ssl) {
    const auto stored = reinterpret_cast<uintptr_t>(SSL_get_ex_data(ssl, route_index()));
    return stored == 0 ? -1 : static_cast<int>(stored - 1);
}

int SniRouter::acknowledge_servername(SSL*, int*, void*) {
    return SSL_TLSEXT_ERR_OK;
}

int SniRouter::route(SSL* ssl, std::string_view server_name) const {
    const int route = match(server_name);
    if (route < 0) {
        return route; // no match: the parent's certificate serves
    }
    SSL_CTX* child = routes_[static_cast<size_t>(route)].ctx.get();
    // SSL_set_SSL_CTX brings the child's certificate, key and session id context; its peer
    // certificate policy and SSL_OP_* switches are copied by hand (as nginx does). The
    // protocol version bounds and the cipher lists (copied into the SSL when it was made)
    // stay the parent's.
    SSL_set_SSL_CTX(ssl, child);
    SSL_set_verify(ssl, SSL_CTX_get_verify_mode(child), SSL_CTX_get_verify_callback(child));
    SSL_set_verify_depth(ssl, SSL_CTX_get_verify_depth(child));
    SSL_clear_options(ssl, SSL_get_options(ssl) & ~SSL_CTX_get_options(child));
    SSL_set_options(ssl, SSL_CTX_get_options(child));
    // Stored as index + 1 so that "unset" (null) means "no route".
    SSL_set_ex_data(ssl, route_index(), reinterpret_cast<void*>(static_cast<uintptr_t>(route + 1)));
    return route;
}

} // namespace tlsgate::tls
