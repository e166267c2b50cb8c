#pragma once

#include "tlsgate/tls/openssl_ptr.hpp"

#include <memory>
#include <mutex>
#include <openssl/ssl.h>
#include <string>
#include <vector>

namespace tlsgate::tls {

class SniRouter;
class TicketKeyStore;

// Client mode: the last session the backend gave us, for the next connection to resume.
// Shared by every worker thread that connects through one client context.
class ClientSessionCache {
public:
    // Takes ownership of `session` (from the new-session callback), made with a server we
    // sent this SNI ("" = none).
    void store(const std::string& sni, SSL_SESSION* session);
    // The stored session if it can be resumed and was made for this SNI; null otherwise.
    // The caller owns the returned reference.
    SslSessionPtr find(const std::string& sni) const;

private:
    mutable std::mutex mutex_;
    std::string sni_;
    SslSessionPtr session_;
};

// The peer-certificate checks the verify callbacks need at handshake time.
struct PeerChecks {
    bool verify_chain = false; // chain errors fail the handshake
    bool verify_peer = false;  // the peer certificate must itself be a trusted certificate
};

// Which server names a server context answers to (strict_sni).
enum class SniPolicy {
    any_name,    // any valid host name, or none: the context's own certificate serves
    known_names, // a name must match an SNI child's pattern or one of `own_names`
};

// What tlsgate hangs on an SSL_CTX for its callbacks; owned by (and freed with) the context.
// Filled in at start-up, before any worker runs a handshake; read-only afterwards.
struct ContextData {
    std::shared_ptr<TicketKeyStore> ticket_keys;         // server, tickets on
    std::shared_ptr<ClientSessionCache> client_sessions; // client, session_resume on
    PeerChecks peer_checks;
    // Server: the SNI children's router (kept alive by the service), null without children.
    const SniRouter* sni_router = nullptr;
    SniPolicy sni_policy = SniPolicy::any_name;
    // Server: the DNS names (sni_matches patterns) of this context's own certificates.
    std::vector<std::string> own_names;
    // Server: the one ALPN protocol a client may ask for (require_alpn); empty: any.
    std::string alpn;
};

// Null when nothing was attached.
ContextData* context_data(const SSL_CTX* ctx);

// The SNI a client connection sends, for the new-session callback to file the session under
// (OpenSSL's own SSL_get_servername gives the resumed session's name instead, often none).
// `sni` is owned by the caller (TlsEngine) and must outlive the SSL.
void set_connection_sni(SSL* ssl, const std::string* sni);
const std::string* connection_sni(const SSL* ssl); // null when not set
// Attaches an empty ContextData on first use; returns the attached one.
ContextData& attach_context_data(SSL_CTX* ctx);

} // namespace tlsgate::tls
