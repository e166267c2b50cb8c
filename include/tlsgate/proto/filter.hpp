#pragma once

#include "tlsgate/config/model.hpp"
#include "tlsgate/proto/actions.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace tlsgate::proto {

// A mail protocol filter is a pure state machine: bytes in, Actions out (actions.hpp). It
// never touches a socket or TLS. The session (proxy/) feeds it whatever arrives from either
// side, in order, and carries out the actions it returns. A filter's start_tls asks for TLS
// with the client: once `to_client` has been flushed, the session drops every client byte not
// yet consumed (the filter already reported them in `discarded_bytes`), starts the handshake
// and calls on_tls_established() when it completes. After start_tls the filter consumes no
// more client plaintext until on_tls_established(). A filter never sets plaintext_fallback.

// Counters the filter bumps; the session adds them to the service's totals.
struct FilterCounters {
    uint64_t starttls_completed = 0;
    uint64_t auth_refused_before_tls = 0;
    uint64_t commands_refused = 0;
    uint64_t injected_bytes_discarded = 0;
    uint64_t overlong_lines = 0;
    uint64_t early_talkers = 0; // SMTP clients that sent before the greeting
};

struct FilterSettings {
    config::Protocol protocol = config::Protocol::raw;
    bool tls_active_from_start = false; // implicit TLS: the filter starts in its after-TLS state
    config::StarttlsPolicy starttls_policy = config::StarttlsPolicy::encrypt;
    bool auth_requires_tls = true;
    size_t max_line = 8192; // IMAP only; POP3 and SMTP use their RFC limits
    unsigned max_errors = 5;
    bool allow_xclient = false; // SMTP, POP3: XCLIENT (XFORWARD) pass; else refused, hidden
    config::EarlyTalker early_talker = config::EarlyTalker::hold; // SMTP
    bool trace_commands = false; // fill Actions::commands (tests only)
};

// Server side: sits between a client (which may do STARTTLS with tlsgate) and a plaintext
// backend daemon.
class ServerFilter {
public:
    virtual ~ServerFilter() = default;

    virtual void on_client_data(std::string_view bytes, Actions& out) = 0;
    virtual void on_backend_data(std::string_view bytes, Actions& out) = 0;
    virtual void on_tls_established(Actions& out) = 0;

    // The backend could not be reached: the protocol's temporary-failure reply, e.g.
    // "* BYE [UNAVAILABLE] ...", "-ERR [SYS/TEMP] ...", "421 4.3.2 ...".
    virtual std::string backend_unavailable_reply() const = 0;
    // Goodbye for a client that timed out (plaintext_timeout, idle).
    virtual std::string timeout_reply() const = 0;

    // True once the filter has stepped aside (authenticated after TLS): the session may then
    // relay both directions without calling the filter.
    virtual bool transparent() const = 0;
    virtual bool tls_active() const = 0;
    // False while the filter holds as much client input as it may (replies owed for
    // kMaxPendingCommands commands, or unprocessed bytes it cannot consume yet): the session
    // stops reading the client until a call makes it true again. This bounds a connection's
    // memory whatever the client sends without reading.
    virtual bool wants_client_input() const = 0;

    // For a drain: false while the filter holds client input it has not passed on, owes the
    // client a reply, or is switching to TLS. The session's IdleTracker (idle_tracker.hpp)
    // judges the rest from the bytes relayed.
    virtual bool quiet() const = 0;

    const FilterCounters& counters() const { return counters_; }

protected:
    FilterCounters counters_;
};

// Returns nullptr for Protocol::raw.
std::unique_ptr<ServerFilter> make_server_filter(const FilterSettings& settings);

} // namespace tlsgate::proto
