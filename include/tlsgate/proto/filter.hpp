#pragma once

#include "tlsgate/config/model.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tlsgate::proto {

// A mail protocol filter is a pure state machine: bytes in, actions out. It never touches a
// socket or TLS. The session (proxy/) feeds it whatever arrives from either side, in order,
// and carries out the actions it returns, in this order:
//   1. write `to_backend`, 2. write `to_client`,
//   3. if `start_tls`: once `to_client` has been flushed, drop every client byte not yet
//      consumed (the filter already reported them in `discarded_client_bytes`) and start the
//      TLS handshake, then call on_tls_established() when it completes,
//   4. if `close`: flush `to_client`, then close the connection.
// After start_tls the filter consumes no more client plaintext until on_tls_established().
struct LogEvent {
    config::LogLevel level = config::LogLevel::info;
    std::string message; // never contains credentials: commands are logged by verb only
};

// Counters the filter bumps; the session adds them to the service's totals.
struct FilterCounters {
    uint64_t starttls_completed = 0;
    uint64_t auth_refused_before_tls = 0;
    uint64_t commands_refused = 0;
    uint64_t injected_bytes_discarded = 0;
    uint64_t overlong_lines = 0;
    uint64_t early_talkers = 0; // SMTP clients that sent before the greeting
};

// One command line the filter passed to the backend as a command: where it starts in
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
    bool close = false;
    std::string close_reason; // short, for the connection's close log line
    std::vector<LogEvent> log;
    // Client bytes the filter dropped in this call because they followed an accepted
    // STARTTLS (also summed in FilterCounters::injected_bytes_discarded).
    uint64_t discarded_client_bytes = 0;
    // With FilterSettings::trace_commands: every command line forwarded in this call.
    std::vector<ForwardedCommand> commands;
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

    const FilterCounters& counters() const { return counters_; }

protected:
    FilterCounters counters_;
};

// Returns nullptr for Protocol::raw.
std::unique_ptr<ServerFilter> make_server_filter(const FilterSettings& settings);

} // namespace tlsgate::proto
