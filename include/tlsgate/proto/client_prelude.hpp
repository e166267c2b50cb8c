#pragma once

#include "tlsgate/config/model.hpp"
#include "tlsgate/proto/filter.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tlsgate::proto {

// Client mode: tlsgate talks to a remote mail server on behalf of a local plaintext program.
// Before handing the connection to the local program, tlsgate does the plaintext prelude
// itself: read the greeting, ask for capabilities (IMAP CAPABILITY, POP3 CAPA, SMTP EHLO),
// send STARTTLS / STLS, wait for the go-ahead. Then the session runs the TLS handshake with
// the server, calls on_tls_established(), and from then on relays both ways unchanged.
//
// Pure state machine: bytes in, actions out; no sockets, no TLS. The session carries out the
// actions in this order: write `to_server`, write `to_local`, then act on the flags.
struct ClientActions {
    std::string to_server;
    std::string to_local;
    // The server gave the go-ahead: start the TLS handshake now. Server bytes that followed
    // the go-ahead line (response injection) were dropped and counted in
    // `discarded_server_bytes`; the session discards anything else that arrives before the
    // handshake (it feeds such bytes to the TLS engine, never to the local program).
    bool start_tls = false;
    // SMTP with starttls_policy "may" only: the server offers no STARTTLS, continue in
    // plaintext; `to_local` holds the greeting. The prelude is done.
    bool plaintext_fallback = false;
    // The prelude failed (no STARTTLS under "encrypt", STARTTLS refused, protocol error, line
    // too long): `to_local` holds the protocol's error for the local program; close after it.
    bool fail = false;
    std::string fail_reason; // for the connection's close line
    // Also counts, after a plaintext_fallback, server bytes that followed the EHLO reply in
    // the same read (dropped: nothing asked for them). Each call that drops bytes adds a
    // warning to `log`.
    uint64_t discarded_server_bytes = 0;
    std::vector<LogEvent> log;
};

struct ClientPreludeSettings {
    config::Protocol protocol = config::Protocol::imap; // imap, pop3 or smtp
    config::StarttlsPolicy starttls_policy = config::StarttlsPolicy::encrypt;
    std::string ehlo_name = "localhost"; // SMTP: the name tlsgate gives in its own EHLO
};

class ClientPrelude {
public:
    virtual ~ClientPrelude() = default;

    // Plaintext bytes from the server, before TLS. Called only while !done().
    virtual void on_server_data(std::string_view bytes, ClientActions& out) = 0;
    // The handshake succeeded: `to_local` gets what the local program must see first — a
    // neutral greeting made by tlsgate ("* OK tlsgate ready", "+OK tlsgate ready", "220
    // <ehlo_name> ESMTP tlsgate ready"), so the program sees a normal plaintext server and
    // asks for capabilities itself. Nothing from the plaintext phase reaches the program:
    // anyone on the path could have written it ([ALERT] text, a banner, an APOP timestamp,
    // which would let a forger choose the APOP challenge; so APOP is not offered through
    // client-mode STARTTLS). The prelude is done after this.
    virtual void on_tls_established(ClientActions& out) = 0;
    // True after on_tls_established(), plaintext_fallback or fail.
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
