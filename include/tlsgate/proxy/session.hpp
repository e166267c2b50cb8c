#pragma once

#include "tlsgate/core/timer.hpp"
#include "tlsgate/net/stream.hpp"
#include "tlsgate/proto/filter.hpp"
#include "tlsgate/proxy/service.hpp"
#include "tlsgate/tls/engine.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <uv.h>

namespace tlsgate::proxy {

class Worker;
struct PendingResolve;

// One client connection and its backend connection.
//
// Implicit TLS: accept -> TLS handshake (timed) -> backend connect (timed) -> relay.
// STARTTLS: accept -> backend connect (timed) -> the protocol filter runs in plaintext
// (plaintext_timeout under "encrypt") -> the filter says "start TLS" -> handshake (timed) ->
// the filter runs inside TLS until it steps aside -> relay.
// Relay has watermark backpressure and half-close both ways. The session frees itself after
// its last handle has closed.
class Session final : public net::StreamHandler, public core::TimerHandler {
public:
    // Pending writes on one side above this stop reads on the other side.
    static constexpr size_t kHighWater = 256 * 1024;

    Session(Worker& worker, std::shared_ptr<Service> service);
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    // Takes the connection waiting on `server`. On failure the session closes itself.
    void start(uv_stream_t* server);
    // Ends the session now (drain deadline, shutdown).
    void abort(const std::string& reason);

    // Worker's intrusive list.
    Session* prev = nullptr;
    Session* next = nullptr;

private:
    enum StreamTag { kClient = 0, kBackend = 1 };

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

    // TLS toward the client.
    void begin_client_tls();
    void drive_tls();
    void on_handshake_complete();
    void handshake_failed(const std::string& reason);
    bool flush_ciphertext();

    // Backend.
    void connect_backend();
    void connect_backend_to(const sockaddr* address);
    void on_backend_connected();
    void backend_unavailable(const std::string& reason);

    // Plaintext in both directions: through the protocol filter while it is in the way.
    void on_client_plaintext(const char* data, size_t size);
    void on_backend_plaintext(const char* data, size_t size);
    void apply(proto::Actions& actions);
    bool filtering() const { return filter_ && !filter_->transparent(); }
    void deliver_to_backend(const char* data, size_t size);
    void deliver_to_client(const char* data, size_t size);

    void client_input_finished(bool clean);
    void backend_input_finished();
    void update_backpressure();
    void maybe_finish();

    // One timer serves every deadline: it is armed for the earliest one.
    void arm_timer();
    void fail(const std::string& reason, bool abortive);
    void close_all(bool abortive);
    void release_if_closed();
    void add_filter_counters();
    const config::Service& settings() const { return service_->settings; }
    uint64_t now() const { return timer_.now(); }

    Worker& worker_;
    std::shared_ptr<Service> service_;
    uint64_t id_;
    net::Stream client_;
    net::Stream backend_;
    core::Timer timer_;
    std::unique_ptr<tls::TlsEngine> tls_;
    std::unique_ptr<proto::ServerFilter> filter_;
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
    uint64_t linger_deadline_ = 0;
    uint64_t bytes_in_ = 0;  // client -> backend plaintext
    uint64_t bytes_out_ = 0; // backend -> client plaintext
    int open_handles_ = 3;
    bool closing_ = false;
    bool client_tls_active_ = false; // client bytes go through tls_
    bool backend_connected_ = false;
    bool client_reading_done_ = false;  // close_notify or EOF from the client
    bool backend_reading_done_ = false; // EOF from the backend
    bool to_backend_finished_ = false;  // backend shutdown completed
    bool to_client_finished_ = false;   // client shutdown completed
    bool client_truncated_ = false;     // EOF without close_notify
};

} // namespace tlsgate::proxy
