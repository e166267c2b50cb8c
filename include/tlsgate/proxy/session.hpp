#pragma once

#include "tlsgate/core/timer.hpp"
#include "tlsgate/net/stream.hpp"
#include "tlsgate/proxy/service.hpp"
#include "tlsgate/tls/engine.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <uv.h>

namespace tlsgate::proxy {

class Worker;
struct PendingResolve;

// One client connection and its backend connection: accept, TLS handshake (timed), backend
// connect (timed), then relay both ways with backpressure and half-close, until both
// directions are done or one side fails. Frees itself after its last handle has closed.
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
    enum class Phase { handshake, connecting, relaying, closing };
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

    void on_client_ciphertext(const char* data, size_t size);
    void drive_tls();
    void on_handshake_complete();
    void connect_backend();
    void connect_backend_to(const sockaddr* address);
    void on_backend_connected();
    void deliver_to_backend(const char* data, size_t size);
    void deliver_to_client(const char* data, size_t size);
    bool flush_ciphertext();
    void client_input_finished(bool clean);
    void backend_input_finished();
    void update_backpressure();
    void maybe_finish();
    void fail(const std::string& reason, bool abortive);
    void close_all(bool abortive);
    void release_if_closed();
    void arm_idle_timer();
    const config::Service& settings() const { return service_->settings; }

    Worker& worker_;
    std::shared_ptr<Service> service_;
    uint64_t id_;
    Phase phase_ = Phase::handshake;
    net::Stream client_;
    net::Stream backend_;
    core::Timer timer_;
    std::unique_ptr<tls::TlsEngine> tls_;
    PendingResolve* resolve_ = nullptr;
    std::string pending_to_backend_; // plaintext received before the backend was connected
    std::string peer_;
    std::string close_reason_;
    std::string tls_version_ = "none"; // kept from the handshake for the close line
    std::string tls_cipher_ = "none";
    uint64_t started_ms_ = 0;
    uint64_t handshake_ms_ = 0;
    uint64_t last_activity_ms_ = 0;
    uint64_t bytes_in_ = 0;  // client -> backend plaintext
    uint64_t bytes_out_ = 0; // backend -> client plaintext
    int open_handles_ = 3;
    bool backend_connected_ = false;
    bool client_reading_done_ = false;  // close_notify or EOF from the client
    bool backend_reading_done_ = false; // EOF from the backend
    bool to_backend_finished_ = false;  // backend shutdown completed
    bool to_client_finished_ = false;   // client shutdown completed
    bool client_truncated_ = false;     // EOF without close_notify
};

} // namespace tlsgate::proxy
