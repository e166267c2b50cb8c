#pragma once

#include "tlsgate/config/model.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tlsgate::proto {

// What a protocol dialogue (a server filter or a client prelude) asks its session to do. Both
// speak of the session's two ends, whatever the mode:
//   - the client end is the connection the session accepted: in server mode a remote mail
//     client, in client mode the local plaintext program;
//   - the backend end is the connection the session made: in server mode the plaintext
//     daemon behind tlsgate, in client mode the remote mail server.
// The session carries out the actions in this order:
//   1. write `to_backend`, 2. write `to_client`,
//   3. if `start_tls`: start the TLS handshake on the end that speaks TLS in the session's
//      mode (server mode: the client end, once `to_client` has been flushed; client mode: the
//      backend end), then call the dialogue's on_tls_established() when it completes,
//   4. if `close`: flush `to_client`, then close the connection,
//   5. if `plaintext_fallback` (client mode only): the dialogue is over without TLS; relay.

struct LogEvent {
    config::LogLevel level = config::LogLevel::info;
    std::string message; // never contains credentials: commands are logged by verb only
};

// One command line a filter passed to the backend as a command: where it starts in
// Actions::to_backend, and its verb as the filter read it. Recorded only when
// FilterSettings::trace_commands is set (the differential tests compare it with what a real
// daemon executed); production connections never fill it.
struct ForwardedCommand {
    size_t offset = 0;
    std::string verb;
};

struct Actions {
    std::string to_client;
    std::string to_backend;
    bool start_tls = false;
    // Client mode, SMTP under starttls_policy "may" only: the server offers no STARTTLS, so
    // the session continues in plaintext; `to_client` holds the server's greeting.
    bool plaintext_fallback = false;
    // Close after `to_client` (which holds the protocol's error when there is one).
    bool close = false;
    std::string close_reason; // short, for the connection's close log line
    std::vector<LogEvent> log;
    // Bytes dropped in this call because they followed the go-ahead for TLS and came from the
    // end about to start it (injection): client bytes after an accepted STARTTLS in server
    // mode, which the filter also sums in FilterCounters::injected_bytes_discarded; server
    // bytes after the STARTTLS go-ahead (or, after a plaintext_fallback, after the EHLO reply)
    // in client mode, which the session adds to the service's counter itself.
    uint64_t discarded_bytes = 0;
    // With FilterSettings::trace_commands: every command line forwarded in this call.
    std::vector<ForwardedCommand> commands;
};

} // namespace tlsgate::proto
