#pragma once

#include <openssl/ssl.h>
#include <optional>
#include <string_view>

namespace tlsgate::tls {

// A server name as RFC 6066 allows it in the server_name extension: a DNS host name of
// letters, digits and hyphens (RFC 1123 labels of 1 to 63 characters, no hyphen first or
// last), 253 characters at most, with at most one trailing dot. Nothing else (control
// characters, spaces, '_', bytes past ASCII, empty labels) is a host name. Pure.
bool valid_host_name(std::string_view name);

// The host_name entry of a server_name extension body (RFC 6066, 3): "" when the list holds
// none; nullopt when the body is malformed (lengths that do not add up, an empty list, two
// host names). Pure.
std::optional<std::string_view> parse_server_name_extension(const unsigned char* body, size_t size);

// Installs the ClientHello callback on a server context. It runs before OpenSSL looks at
// anything else in the ClientHello (session resumption included) and
// - refuses a server name that is not a valid host name (unrecognized_name alert);
// - with SNI children (ContextData::sni_router), switches to the child's context, so that
//   the child's session id context decides whether a session resumes;
// - with SniPolicy::known_names, refuses a server name no configured name matches.
void install_client_hello_checks(SSL_CTX* ctx);

// strict_sni: from now on the context refuses (unrecognized_name) a server name that matches
// neither an SNI child's pattern nor a name of its own certificates. Start-up only.
void require_known_server_names(SSL_CTX* ctx);

// The cross-protocol defence (ALPACA) for a service that speaks one protocol: a client whose
// ALPN list names it gets it selected; a client whose list does not (an HTTPS client lured
// to a mail port offers "http/1.1") is refused with the no_application_protocol alert; a
// client that sends no ALPN is served. `protocol` is the ALPN name, e.g. "imap". Start-up
// only.
void require_alpn(SSL_CTX* ctx, std::string_view protocol);

// Why the ClientHello callback (or the ALPN check) refused this connection, for the log; null when
// it did not.
const char* client_hello_refusal(const SSL* ssl);

} // namespace tlsgate::tls
