#pragma once

#include "tlsgate/core/timer.hpp"
#include "tlsgate/net/stream.hpp"
#include "tlsgate/proto/client_prelude.hpp"
#include "tlsgate/proto/filter.hpp"
#include "tlsgate/proto/idle_tracker.hpp"
#include "tlsgate/proxy/backend_connector.hpp"
#include "tlsgate/proxy/conn_log.hpp"
#include "tlsgate/proxy/service.hpp"
#include "tlsgate/proxy/transport.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <uv.h>
#include <vector>

namespace tlsgate::proxy {

class Worker;

// One accepted connection and its backend connection. The session wires its parts and
// keeps the deadlines; each part has one job:
//   client_, backend_  Transport: a stream that gives plaintext up and takes plaintext down,
//                      TLS (handshake, records, close_notify) hidden inside
//   connector_         BackendConnector: order, name lookup, failover, exec program, retry
//   filter_/prelude_   the protocol dialogue while one is in the way (pure state machines)
//   log_               ConnLog: "conn=N service=X " on every line
//
// Server, implicit TLS:  accept -> handshake with the client -> connect backend -> relay.
// Server, STARTTLS:      accept -> connect backend -> filter in plaintext -> "start TLS" ->
//                        handshake with the client -> filter inside TLS -> relay.
// Client, implicit TLS:  accept -> connect backend -> handshake with the backend -> relay.
// Client, STARTTLS:      accept -> connect backend -> prelude in plaintext (greeting,
//                        capabilities, STARTTLS) -> handshake with the backend -> relay.
// The local client is read only once the backend is ready in client mode, so nothing it
// sends can leave before the server's certificate has been verified.
// Relay has watermark backpressure and half-close both ways. The session frees itself after
// its last handle has closed.
class Session final : public net::StreamHandler,
                      public core::TimerHandler,
                      public TransportHandler,
                      public BackendConnectorHandler {
public:
    // Pending writes on one end above this stop reads on the other end.
    static constexpr size_t kHighWater = 256 * 1024;

    // Where the connection is. A STARTTLS handshake happens inside `filtering`'s dialogue
    // and shows as `handshaking` while it runs.
    enum class Phase {
        starting,    // accepted, nothing begun
        connecting,  // waiting for the backend connection (or program)
        handshaking, // a TLS handshake runs on one end
        filtering,   // a protocol filter or prelude reads every byte
        relaying,    // bytes flow both ways unchanged
        closing,     // draining what is queued, then closing the handles
    };

    // `client_kind`: what the client connection is (the listener's kind, or inetd's socket).
    Session(Worker& worker, std::shared_ptr<Service> service, net::Address::Kind client_kind);
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    // Takes the connection waiting on `server`. On failure the session closes itself.
    void start(uv_stream_t* server);
    // Takes an already connected socket (inetd mode: stdin). On failure the session closes
    // itself.
    void start_fd(int fd);
    // inetd mode on two pipes: reads `read_fd`, writes `write_fd`.
    void start_fds(int read_fd, int write_fd);
    // Ends the session now (drain deadline, shutdown).
    void abort(const std::string& reason);
    // During a drain: a mail session between commands (IdleTracker's rule) gets the
    // protocol's goodbye (through TLS when TLS is up) and a graceful close; any other session
    // is left to finish. Called for every session when the drain begins, and again after
    // each relayed piece while it lasts.
    void end_if_idle();

    // One line for the SIGUSR2 connection list: "conn=N service=X peer=... backend=...
    // age_ms=... in=... out=... state=...". On the worker's loop thread only.
    std::string describe() const;

    // Worker's intrusive list.
    Session* prev = nullptr;
    Session* next = nullptr;

private:
    // How long a close may linger for queued bytes and the peer's FIN.
    enum class Linger { close_timeout, abort };

    Session(Worker& worker, std::shared_ptr<Service> service, net::Address::Kind client_kind,
            std::vector<size_t> backend_order);
    ~Session();

    // StreamHandler: both streams report here; bytes go to their transport.
    void on_stream_read(net::Stream& stream, const char* data, size_t size) override;
    void on_stream_eof(net::Stream& stream) override;
    void on_stream_error(net::Stream& stream, int uv_error) override;
    void on_stream_connected(net::Stream& stream, int status) override;
    void on_stream_drained(net::Stream& stream) override;
    void on_stream_shutdown(net::Stream& stream, int status) override;
    void on_stream_closed(net::Stream& stream) override;
    // TimerHandler
    void on_timer(core::Timer& timer) override;
    void on_timer_closed(core::Timer& timer) override;
    // TransportHandler
    void on_transport_plaintext(Transport& from, const char* data, size_t size) override;
    void on_transport_handshake_done(Transport& end) override;
    void on_transport_handshake_failed(Transport& end, const std::string& reason) override;
    void on_transport_close_notify(Transport& end) override;
    void on_transport_failed(Transport& end, const std::string& reason, CloseMode mode) override;
    // BackendConnectorHandler
    void on_backend_connected() override;
    void on_backend_unavailable(const std::string& reason) override;
    void on_backend_restarting() override;
    void on_backend_program_closed() override;

    // What start() and start_fd() share once the client connection is there.
    void begin();
    void make_filter(); // the service's protocol filter (server mode), or none

    Transport& end_of(const net::Stream& stream) {
        return stream.tag() == static_cast<int>(Transport::Side::client) ? client_ : backend_;
    }
    Transport& other(const Transport& end) { return &end == &client_ ? backend_ : client_; }

    void set_phase(Phase phase);
    // The phase once the backend is up and no handshake runs.
    Phase steady_phase() const;
    void check_invariants() const;
    bool closing() const { return phase_ == Phase::closing; }

    // TLS on either end.
    void begin_tls(Transport& end);
    void handshake_failed(Transport& end, const std::string& reason);
    // The client side's line, rate-limited per client address.
    void log_client_handshake_failure(const std::string& reason);
    // Client-mode STARTTLS: handshake_timeout ran out before the server's go-ahead.
    void prelude_timed_out();

    void connect_backend();
    void switch_to_sni_child();
    void backend_ready(); // client mode: TLS (or permitted plaintext) is up, relay may start
    // exec + retry: the program's end is gone while the client stays; start a new one.
    bool retry_backend();

    // The protocol dialogue: its actions, carried out in order.
    void apply(proto::Actions& actions);
    bool filtering() const { return filter_ && !filter_->transparent(); }
    bool in_prelude() const { return prelude_ && !prelude_->done(); }
    void send(Transport& to, const char* data, size_t size);
    void send(Transport& to, const std::string& bytes) { send(to, bytes.data(), bytes.size()); }

    void input_finished(Transport& from, Transport::Input how);
    void update_backpressure();
    void maybe_finish();

    // One timer serves every deadline: it is armed for the earliest one.
    void arm_timer();
    void fail(const std::string& reason, CloseMode mode);
    void close_all(CloseMode mode);
    void release_if_closed();
    void add_filter_counters();
    std::string failure_reply(const std::string& why) const;
    const config::Service& settings() const { return service_->settings; }
    uint64_t now() const { return timer_.now(); }

    Worker& worker_;
    std::shared_ptr<Service> service_;
    // With SNI routing, the parent whose listener accepted this connection (service_ is then
    // the child); kept so the parent's context and router outlive the handshake.
    std::shared_ptr<Service> sni_parent_;
    ConnLog log_;
    Transport client_;
    Transport backend_;
    BackendConnector connector_;
    core::Timer timer_;
    std::unique_ptr<proto::ServerFilter> filter_;   // server mode, mail protocols
    std::unique_ptr<proto::ClientPrelude> prelude_; // client mode, STARTTLS
    std::unique_ptr<proto::IdleTracker> idle_;      // server mode, mail protocols: drains
    Phase phase_ = Phase::starting;
    Linger linger_ = Linger::close_timeout;
    std::string pending_to_backend_; // plaintext waiting for the backend connection
    std::string peer_;
    std::string close_reason_;
    std::string tls_version_ = "none"; // kept from the handshake for the close line
    std::string tls_cipher_ = "none";
    std::string backend_local_; // our address toward the backend
    uint64_t started_ms_ = 0;
    uint64_t tls_started_ms_ = 0;
    uint64_t handshake_ms_ = 0;
    uint64_t last_activity_ms_ = 0;
    // Absolute loop times; 0 = not armed. The connector keeps its own (connect, restart).
    uint64_t handshake_deadline_ = 0;
    uint64_t plaintext_deadline_ = 0;
    uint64_t bytes_in_ = 0;       // client -> backend plaintext
    uint64_t bytes_out_ = 0;      // backend -> client plaintext
    bool backend_used_ = false;   // a backend connection (or program) was up at some point
    bool client_may_read_ = true; // client mode: false until the backend is ready
    // The client's failed handshake was not logged (rate limit per source): nor is the
    // close line that would repeat it.
    bool close_line_suppressed_ = false;
};

} // namespace tlsgate::proxy
