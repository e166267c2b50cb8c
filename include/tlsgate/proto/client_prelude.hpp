#pragma once

#include "tlsgate/config/model.hpp"
#include "tlsgate/proto/actions.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace tlsgate::proto {

// Client mode: tlsgate talks to a remote mail server on behalf of a local plaintext program.
// Before handing the connection to the local program, tlsgate does the plaintext prelude
// itself: read the greeting, ask for capabilities (IMAP CAPABILITY, POP3 CAPA, SMTP EHLO),
// send STARTTLS / STLS, wait for the go-ahead. Then the session runs the TLS handshake with
// the server, calls on_tls_established(), and from then on relays both ways unchanged.
//
// Pure state machine: bytes in, Actions out (actions.hpp); no sockets, no TLS. In client mode
// the session's backend end is the remote server and its client end the local program, so
// the prelude writes its commands to `to_backend` and what the local program sees to
// `to_client`. The actions mean:
//   - start_tls: the server gave the go-ahead, start the TLS handshake with it now. Server
//     bytes that followed the go-ahead line (response injection) were dropped and counted in
//     `discarded_bytes`; the session discards anything else that arrives before the handshake
//     (it feeds such bytes to the TLS engine, never to the local program);
//   - plaintext_fallback: SMTP with starttls_policy "may" only: the server offers no
//     STARTTLS, continue in plaintext; `to_client` holds the greeting. The prelude is done.
//     `discarded_bytes` then counts server bytes that followed the EHLO reply in the same
//     read (dropped: nothing asked for them);
//   - close: the prelude failed (no STARTTLS under "encrypt", STARTTLS refused, protocol
//     error, line too long): `to_client` holds the protocol's error for the local program,
//     `close_reason` says why, for the connection's close line.
// Each call that drops bytes adds a warning to `log`. A prelude never fills `commands`.

struct ClientPreludeSettings {
    config::Protocol protocol = config::Protocol::imap; // imap, pop3 or smtp
    config::StarttlsPolicy starttls_policy = config::StarttlsPolicy::encrypt;
    std::string ehlo_name = "localhost"; // SMTP: the name tlsgate gives in its own EHLO
};

class ClientPrelude {
public:
    virtual ~ClientPrelude() = default;

    // Plaintext bytes from the server (the session's backend end), before TLS. Called only
    // while !done().
    virtual void on_backend_data(std::string_view bytes, Actions& out) = 0;
    // The handshake succeeded: `to_client` gets what the local program must see first — a
    // neutral greeting made by tlsgate ("* OK tlsgate ready", "+OK tlsgate ready", "220
    // <ehlo_name> ESMTP tlsgate ready"), so the program sees a normal plaintext server and
    // asks for capabilities itself. Nothing from the plaintext phase reaches the program:
    // anyone on the path could have written it ([ALERT] text, a banner, an APOP timestamp,
    // which would let a forger choose the APOP challenge; so APOP is not offered through
    // client-mode STARTTLS). The prelude is done after this.
    virtual void on_tls_established(Actions& out) = 0;
    // True after on_tls_established(), plaintext_fallback or close.
    virtual bool done() const = 0;
    // The protocol's temporary failure for the local program when the server cannot be
    // reached or TLS fails: IMAP "* BYE [UNAVAILABLE] ...", POP3 "-ERR [SYS/TEMP] ...",
    // SMTP "421 4.7.0 ..." (CRLF-terminated).
    virtual std::string failure_reply(std::string_view why) const = 0;
};

// protocol must be imap, pop3 or smtp; returns nullptr for raw. Server lines are bounded
// (ClientPreludeBase::kMaxLine, kMaxPrelude in client_prelude_base.hpp): beyond, the prelude
// fails ("server line too long", "server response too long").
std::unique_ptr<ClientPrelude> make_client_prelude(const ClientPreludeSettings& settings);

} // namespace tlsgate::proto
