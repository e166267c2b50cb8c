#pragma once

#include "tlsgate/config/model.hpp"

#include <functional>
#include <openssl/ssl.h>
#include <string>

namespace tlsgate::tls {

// Reports a config error against one TLS key (by its bare name, e.g. "ca_file").
using ContextFail = std::function<void(const std::string& key_name, std::string message)>;

// Sets up peer-certificate checks on a context, for either end:
// - server: asks for a client certificate when request_cert (or any check) is on, sending the
//   CA names from ca_file/ca_path; require_cert fails a handshake without one;
// - verify_chain: the peer chain must verify against ca_file/ca_path (client mode: the system
//   store when neither is set);
// - verify_peer: the peer certificate itself must be one of the trusted certificates
//   (stunnel's verifyPeer, i.e. pinning); without verify_chain the chain is not checked;
// - check_ip, check_email (and, server side, check_host): the peer certificate must carry them;
//   client side they are enforced whatever verify says (TlsEngine::set_peer_name adds the
//   per-connection host check; a check_host that is an IP other than check_ip is an error);
// - crl_file/crl_path: CRLs checked for every certificate of the chain.
// Name mismatches and revocations fail the handshake even when verify_chain is off.
// The address in network byte order (4 or 16 bytes) when `text` is an IPv4 or IPv6 literal as
// OpenSSL's IP checks read it; empty otherwise.
std::string ip_address_bytes(const std::string& text);

void apply_peer_checks(SSL_CTX* ctx, const config::TlsSettings& settings, bool server,
                       const ContextFail& fail);

} // namespace tlsgate::tls
