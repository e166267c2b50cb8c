#pragma once

#include "tlsgate/net/stream.hpp"
#include "tlsgate/proxy/conn_log.hpp"
#include "tlsgate/proxy/exec_backend.hpp"
#include "tlsgate/proxy/service.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <uv.h>
#include <vector>

namespace tlsgate::proxy {

struct PendingResolve;

class BackendConnectorHandler {
public:
    // The backend stream is connected (or the program started): bytes may flow.
    virtual void on_backend_connected() = 0;
    // Every backend failed (or the program could not start); `reason` is the last failure.
    virtual void on_backend_unavailable(const std::string& reason) = 0;
    // exec + retry: a new program starts on the fresh backend stream now.
    virtual void on_backend_restarting() = 0;
    // The exec'd program's process handle is released.
    virtual void on_backend_program_closed() = 0;

protected:
    ~BackendConnectorHandler() = default;
};

// Sets the service's socket options for one side ('l': the client's, 'r': the backend's) on
// `stream`; a failure is a warning.
void apply_socket_options(const Service& service, net::Stream& stream, char side,
                          const ConnLog& log);

// Gets the session a backend connection: one of the service's backends, in the order
// `failover` gives (prio: the first; rr: the next in turn, shared by every worker), each
// attempt with the whole connect_timeout; name lookup (unless resolved at start); the
// source address (`local`); or a program started per connection (`exec`), restarted while
// the client stays when `retry` is set.
//
// A failed attempt's stream is closed and made again before the next one, since neither a
// failed TCP connect nor a change between TCP and unix socket can reuse a handle: the
// session passes the backend stream's close to on_stream_closed() first.
class BackendConnector final : public ExecBackendHandler {
public:
    // `order`: plan(*service), made before the backend stream (whose first kind it decides).
    BackendConnector(uv_loop_t* loop, std::shared_ptr<Service> service, std::vector<size_t> order,
                     net::Stream& stream, const ConnLog& log, BackendConnectorHandler& handler);
    ~BackendConnector();
    BackendConnector(const BackendConnector&) = delete;
    BackendConnector& operator=(const BackendConnector&) = delete;

    // The order in which a connection tries the service's backends: prio always starts with
    // the first, rr with the next one in turn (shared by every worker), and both fall over to
    // the rest. Empty for an exec backend.
    static std::vector<size_t> plan(Service& service);
    // The kind of handle the first attempt of `order` needs (exec: a unix socket).
    static net::Address::Kind first_kind(const Service& service, const std::vector<size_t>& order);

    // Connects to the current backend (or starts the program), with connect_timeout.
    void connect();
    // The stream reported its connect.
    void on_stream_connected(int status);
    // This attempt failed: the next backend, or on_backend_unavailable when none is left.
    void attempt_failed(const std::string& reason);
    // The backend stream's handle closed. True when the connector made it again (failover,
    // SNI route, exec retry) and the close is not the session's.
    bool on_stream_closed();
    // exec + retry: the program's side ended while the client stays. Closes the stream,
    // makes sure the program is gone and starts a new one (paced).
    void restart_program();
    // The session closes: nothing more starts, no attempt reports back.
    void stop();
    // SNI route: the child service's backends from here on (nothing was connected yet).
    void route_to(std::shared_ptr<Service> service);

    // The earliest of the connect and restart deadlines (absolute loop ms; 0: none).
    uint64_t connect_deadline() const { return connect_deadline_; }
    uint64_t restart_deadline() const { return respawn_deadline_; }
    // Called when restart_deadline() passed.
    void restart_due();

    bool connected() const { return connected_; }
    bool exec() const { return service_->settings.exec.has_value(); }
    ExecBackend& program() { return program_; }
    const ExecBackend& program() const { return program_; }
    // The backend tried now: "host:port", "unix:/path", "exec:/program" or "none".
    std::string name() const;
    // "A,B": the backends that failed, in order (empty: none).
    const std::string& failed() const { return failed_; }
    // The backend this connection uses or tries now (network backends only).
    const net::Address& address() const { return settings().backends.at(index_); }

private:
    friend struct PendingResolve;
    // What to do once the stream being remade has closed.
    enum class AfterRemake { nothing, connect };

    const config::Service& settings() const { return service_->settings; }
    net::Address::Kind wanted_kind() const;
    void connect_to(const sockaddr* address);
    void spawn();
    void note_failed();
    void remake_stream(AfterRemake then);
    void maybe_restart();
    uint64_t now() const { return uv_now(loop_); }
    void cancel_resolve();
    // ExecBackendHandler
    void on_exec_closed() override;

    uv_loop_t* loop_;
    std::shared_ptr<Service> service_;
    net::Stream& stream_;
    const ConnLog& log_;
    BackendConnectorHandler& handler_;
    ExecBackend program_;
    std::vector<size_t> order_; // the backends to try for this connection, in order
    size_t attempt_ = 0;        // position in order_
    size_t index_ = 0;          // the backend tried now (settings().backends)
    std::string failed_;
    PendingResolve* resolve_ = nullptr;
    uint64_t connect_deadline_ = 0;
    uint64_t respawn_deadline_ = 0;
    bool remaking_ = false; // the stream closes to be made again
    AfterRemake after_remake_ = AfterRemake::nothing;
    bool restart_pending_ = false; // exec + retry: start the program again
    bool connected_ = false;
    bool stopped_ = false;
};

} // namespace tlsgate::proxy
