#pragma once

#include "tlsgate/core/timer.hpp"
#include "tlsgate/log/log.hpp"
#include "tlsgate/net/stream.hpp"
#include "tlsgate/proto/client_prelude.hpp"
#include "tlsgate/proto/filter.hpp"
#include "tlsgate/proxy/exec_child.hpp"
#include "tlsgate/proxy/service.hpp"
#include "tlsgate/tls/engine.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <uv.h>
#include <vector>

namespace tlsgate::proxy {

class Worker;
struct PendingResolve;

// One accepted connection and its backend connection: two ends, either of which may speak
// TLS, with plaintext flowing between them (through a protocol filter or prelude while one is
// in the way).
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
//
// The backend is one of settings().backends, tried per `failover` (each attempt has the whole
// connect_timeout; a failed attempt's stream is closed and re-made, since neither a failed TCP
// connect nor a change between TCP and unix socket can reuse a handle), or a program started
// per connection (`exec`), restarted while the client stays when `retry` is set.
class Session final : public net::StreamHandler,
                      public core::TimerHandler,
                      public ExecChildHandler {
public:
    // Pending writes on one end above this stop reads on the other end.
    static constexpr size_t kHighWater = 256 * 1024;

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

    // Worker's intrusive list.
    Session* prev = nullptr;
    Session* next = nullptr;

private:
    enum StreamTag { kClient = 0, kBackend = 1 };

    // One side of the session.
    struct End {
        End(uv_loop_t* loop, net::Address::Kind kind, net::StreamHandler& handler,
            net::ReadBuffer& buffer, int tag)
            : stream(loop, kind, handler, buffer, tag) {}
        net::Stream stream;
        std::unique_ptr<tls::TlsEngine> tls; // set once TLS starts on this end
        bool input_done = false;             // close_notify or EOF received
        bool output_done = false;            // our shutdown toward it completed
        bool truncated = false;              // EOF without close_notify
        bool tls_up() const { return tls && tls->handshake_done(); }
        bool in_handshake() const { return tls && !tls->handshake_done(); }
    };

    Session(Worker& worker, std::shared_ptr<Service> service, net::Address::Kind client_kind,
            std::vector<size_t> backend_order);
    ~Session();
    friend struct PendingResolve;

    // StreamHandler
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
    // ExecChildHandler
    void on_child_exit(ExecChild& child, int64_t status, int term_signal) override;
    void on_child_closed(ExecChild& child) override;

    // What start() and start_fd() share once the client connection is there.
    void begin();
    void make_filter(); // the service's protocol filter (server mode), or none
    // Lines of this connection go out at the service's log level when it has one.
    template <typename... Args>
    void log(config::LogLevel level, fmt::format_string<Args...> format, Args&&... args) const {
        if (level >= log_threshold_) {
            log::write(level, fmt::format(format, std::forward<Args>(args)...));
        }
    }
    void apply_socket_options(End& end, char side);

    End& end_of(const net::Stream& stream) { return stream.tag() == kClient ? client_ : backend_; }
    End& other(const End& end) { return &end == &client_ ? backend_ : client_; }
    bool is_client(const End& end) const { return &end == &client_; }

    // TLS on either end.
    void begin_tls(End& end);
    void drive_tls(End& end);
    void on_handshake_complete(End& end);
    void handshake_failed(End& end, const std::string& reason);
    // Client-mode STARTTLS: handshake_timeout ran out before the server's go-ahead.
    void prelude_timed_out();
    bool flush_ciphertext(End& end);

    // Backend.
    void connect_backend();
    void connect_backend_to(const sockaddr* address);
    void spawn_backend();
    void maybe_respawn();
    bool retry_backend();
    void on_backend_connected();
    // One backend failed: try the next one (per `failover`), or give up when none is left.
    void backend_attempt_failed(const std::string& reason);
    void backend_unavailable(const std::string& reason);
    void switch_to_sni_child();
    std::string backend_name() const;
    void note_failed_backend();
    net::Address::Kind wanted_backend_kind() const;
    void backend_ready(); // client mode: TLS (or permitted plaintext) is up, relay may start

    // Plaintext from either end, through the filter or the prelude while one is in the way.
    void on_plaintext(End& from, const char* data, size_t size);
    void apply(proto::Actions& actions);
    bool filtering() const { return filter_ && !filter_->transparent(); }
    bool in_prelude() const { return prelude_ && !prelude_->done(); }
    void send(End& to, const char* data, size_t size);

    void input_finished(End& from, bool clean);
    void update_backpressure();
    void maybe_finish();

    // One timer serves every deadline: it is armed for the earliest one.
    void arm_timer();
    void fail(const std::string& reason, bool abortive);
    void close_all(bool abortive);
    void release_if_closed();
    void add_filter_counters();
    std::string failure_reply(const std::string& why) const;
    const config::Service& settings() const { return service_->settings; }
    // The backend this connection uses (or tries now); never called for exec.
    const net::Address& backend_address() const { return settings().backends.at(backend_index_); }
    bool exec_backend() const { return settings().exec.has_value(); }
    uint64_t now() const { return timer_.now(); }

    Worker& worker_;
    std::shared_ptr<Service> service_;
    uint64_t id_;
    // With SNI routing, the parent whose listener accepted this connection (service_ is then
    // the child); kept so the parent's context and router outlive the handshake.
    std::shared_ptr<Service> sni_parent_;
    config::LogLevel log_threshold_;
    End client_;
    End backend_;
    core::Timer timer_;
    ExecChild child_;
    std::unique_ptr<proto::ServerFilter> filter_;   // server mode, mail protocols
    std::unique_ptr<proto::ClientPrelude> prelude_; // client mode, STARTTLS
    PendingResolve* resolve_ = nullptr;
    std::string pending_to_backend_; // plaintext waiting for the backend connection
    std::string peer_;
    std::string close_reason_;
    std::string tls_version_ = "none"; // kept from the handshake for the close line
    std::string tls_cipher_ = "none";
    uint64_t started_ms_ = 0;
    uint64_t tls_started_ms_ = 0;
    uint64_t handshake_ms_ = 0;
    uint64_t last_activity_ms_ = 0;
    // Absolute loop times; 0 = not armed.
    uint64_t handshake_deadline_ = 0;
    uint64_t connect_deadline_ = 0;
    uint64_t plaintext_deadline_ = 0;
    uint64_t respawn_deadline_ = 0; // exec + retry: when the program may start again
    uint64_t last_spawn_ms_ = 0;
    // Backend attempts: the order for this connection, the one tried now, and what failed.
    std::vector<size_t> backend_order_;
    size_t attempt_ = 0;
    std::string failed_backends_;        // "A,B": the backends that failed, in order
    std::string backend_local_;          // our address toward the backend
    bool backend_recycling_ = false;     // the backend stream closes to be made again
    bool connect_when_recycled_ = false; // ... and then connects (failover, SNI switch)
    bool respawn_pending_ = false;       // exec + retry: start the program again
    bool backend_used_ = false;          // a backend connection (or program) was up at some point
    bool aborting_ = false;  // abort(): the close lingers briefly, whatever close_timeout
    uint64_t bytes_in_ = 0;  // client -> backend plaintext
    uint64_t bytes_out_ = 0; // backend -> client plaintext
    int open_handles_ = 3;
    bool closing_ = false;
    bool backend_connected_ = false;
    bool client_may_read_ = true; // client mode: false until the backend is ready
    size_t backend_index_ = 0;

public:
    // One line for the SIGUSR2 connection list: "conn=N service=X peer=... backend=...
    // age_ms=... in=... out=... state=...". On the worker's loop thread only.
    std::string describe() const;
};

} // namespace tlsgate::proxy
