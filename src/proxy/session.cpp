#include "tlsgate/proxy/session.hpp"

#include "tlsgate/log/log.hpp"
#include "tlsgate/net/sockaddr.hpp"
#include "tlsgate/proxy/worker.hpp"

#include <netdb.h>

namespace tlsgate::proxy {

namespace {

// How long a graceful close may wait for the last bytes (an alert, close_notify) to leave.
constexpr uint64_t kCloseLingerMs = 2000;

size_t fill_from_engine(void* context, char* out, size_t capacity) {
    return static_cast<tls::TlsEngine*>(context)->take_ciphertext(out, capacity);
}

std::string describe_uv_error(int uv_error) {
    return uv_strerror(uv_error);
}

} // namespace

// A name lookup that may outlive its session: the session detaches itself on destruction
// and the lookup frees itself when libuv reports back.
struct PendingResolve {
    uv_getaddrinfo_t request{};
    Session* session = nullptr;

    static void on_resolved(uv_getaddrinfo_t* request, int status, addrinfo* result) {
        auto* self = static_cast<PendingResolve*>(request->data);
        Session* session = self->session;
        if (session != nullptr) {
            session->resolve_ = nullptr;
            if (status != 0 || result == nullptr) {
                session->service_->counters.backend_failures++;
                session->fail("backend name lookup failed: " + describe_uv_error(status), false);
            } else {
                session->connect_backend_to(result->ai_addr);
            }
        }
        uv_freeaddrinfo(result);
        delete self;
    }
};

Session::Session(Worker& worker, std::shared_ptr<Service> service)
    : worker_(worker), service_(std::move(service)), id_(worker.next_connection_id()),
      client_(worker.loop(), service_->settings.listen.kind, *this, worker.read_buffer(), kClient),
      backend_(worker.loop(), service_->settings.backend.kind, *this, worker.read_buffer(),
               kBackend),
      timer_(worker.loop(), *this) {
    worker_.session_started(this);
    service_->counters.accepted++;
    service_->counters.active++;
}

Session::~Session() {
    if (resolve_ != nullptr) {
        resolve_->session = nullptr;
        uv_cancel(reinterpret_cast<uv_req_t*>(&resolve_->request));
    }
    service_->counters.active--;
}

void Session::start(uv_stream_t* server) {
    started_ms_ = last_activity_ms_ = timer_.now();
    if (int rc = client_.accept_from(server); rc != 0) {
        fail("accept failed: " + describe_uv_error(rc), true);
        return;
    }
    peer_ = client_.peer_name();
    client_.set_nodelay();
    tls_ = std::make_unique<tls::TlsEngine>(service_->server_context.get(), true);
    if (!tls_->valid()) {
        fail("TLS setup failed: " + tls_->error_reason(), true);
        return;
    }
    timer_.start(static_cast<uint64_t>(settings().handshake_timeout.count()));
    client_.start_reading();
}

void Session::abort(const std::string& reason) {
    fail(reason, false);
}

void Session::on_stream_read(net::Stream& stream, const char* data, size_t size) {
    if (phase_ == Phase::closing) {
        return;
    }
    last_activity_ms_ = timer_.now();
    if (stream.tag() == kClient) {
        on_client_ciphertext(data, size);
    } else {
        deliver_to_client(data, size);
    }
}

void Session::on_client_ciphertext(const char* data, size_t size) {
    tls_->feed(data, size);
    drive_tls();
}

void Session::drive_tls() {
    if (!tls_->handshake_done()) {
        const auto status = tls_->handshake();
        flush_ciphertext();
        if (status == tls::TlsEngine::Status::want_io) {
            return;
        }
        if (status != tls::TlsEngine::Status::ok) {
            service_->counters.handshakes_failed++;
            const std::string reason =
                status == tls::TlsEngine::Status::closed ? "peer closed" : tls_->error_reason();
            log::info("conn={} service={} TLS handshake failed from {}: {}", id_, settings().name,
                      peer_, reason);
            fail("handshake failed: " + reason, false);
            return;
        }
        on_handshake_complete();
        if (phase_ == Phase::closing) {
            return;
        }
    }
    char* buffer = worker_.plaintext_buffer().bytes;
    while (!client_reading_done_ && phase_ != Phase::closing) {
        size_t size = 0;
        const auto status = tls_->read(buffer, net::ReadBuffer::kSize, size);
        if (status == tls::TlsEngine::Status::ok) {
            deliver_to_backend(buffer, size);
        } else if (status == tls::TlsEngine::Status::want_io) {
            break;
        } else if (status == tls::TlsEngine::Status::closed) {
            client_input_finished(true);
        } else {
            flush_ciphertext();
            fail("TLS error: " + tls_->error_reason(), false);
            return;
        }
    }
    // Post-handshake messages (tickets, key updates, alerts) leave here.
    flush_ciphertext();
}

void Session::on_handshake_complete() {
    handshake_ms_ = timer_.now() - started_ms_;
    tls_version_ = tls_->version();
    tls_cipher_ = tls_->cipher();
    service_->counters.handshakes_completed++;
    log::info("conn={} service={} TLS connection established from {}: {} with cipher {} ({}/{} "
              "bits)",
              id_, settings().name, peer_, tls_->version(), tls_->cipher(), tls_->cipher_bits(),
              tls_->cipher_alg_bits());
    timer_.stop();
    phase_ = Phase::connecting;
    connect_backend();
}

void Session::connect_backend() {
    timer_.start(static_cast<uint64_t>(settings().connect_timeout.count()));
    const net::Address& backend = settings().backend;
    if (backend.kind == net::Address::Kind::unix_socket) {
        backend_.connect_unix(backend.path);
        return;
    }
    if (auto numeric = net::numeric_socket_address(backend)) {
        connect_backend_to(numeric->get());
        return;
    }
    auto* resolve = new PendingResolve;
    resolve->session = this;
    resolve->request.data = resolve;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    const std::string port = std::to_string(backend.port);
    if (int rc = uv_getaddrinfo(worker_.loop(), &resolve->request, PendingResolve::on_resolved,
                                backend.host.c_str(), port.c_str(), &hints);
        rc != 0) {
        delete resolve;
        service_->counters.backend_failures++;
        fail("backend name lookup failed: " + describe_uv_error(rc), false);
        return;
    }
    resolve_ = resolve;
}

void Session::connect_backend_to(const sockaddr* address) {
    if (int rc = backend_.connect(address); rc != 0) {
        service_->counters.backend_failures++;
        fail("backend connect failed: " + describe_uv_error(rc), false);
    }
}

void Session::on_stream_connected(net::Stream&, int status) {
    if (phase_ == Phase::closing) {
        return;
    }
    if (status != 0) {
        service_->counters.backend_failures++;
        log::notice("conn={} service={} backend {} unavailable: {}", id_, settings().name,
                    settings().backend.to_string(), describe_uv_error(status));
        fail("backend connect failed: " + describe_uv_error(status), false);
        return;
    }
    on_backend_connected();
}

void Session::on_backend_connected() {
    backend_connected_ = true;
    phase_ = Phase::relaying;
    backend_.set_nodelay();
    if (!pending_to_backend_.empty()) {
        const int rc = backend_.write(pending_to_backend_.data(), pending_to_backend_.size());
        std::string().swap(pending_to_backend_);
        if (rc != 0) {
            fail("backend write failed: " + describe_uv_error(rc), true);
            return;
        }
    }
    backend_.start_reading();
    if (client_reading_done_) {
        backend_.shutdown();
    }
    arm_idle_timer();
    update_backpressure();
}

void Session::deliver_to_backend(const char* data, size_t size) {
    bytes_in_ += size;
    if (!backend_connected_) {
        pending_to_backend_.append(data, size);
    } else if (int rc = backend_.write(data, size); rc != 0) {
        fail("backend write failed: " + describe_uv_error(rc), true);
        return;
    }
    update_backpressure();
}

void Session::deliver_to_client(const char* data, size_t size) {
    bytes_out_ += size;
    if (tls_->write(data, size) != tls::TlsEngine::Status::ok) {
        fail("TLS error: " + tls_->error_reason(), true);
        return;
    }
    if (!flush_ciphertext()) {
        return;
    }
    update_backpressure();
}

bool Session::flush_ciphertext() {
    const size_t pending = tls_ ? tls_->pending_ciphertext() : 0;
    if (pending == 0) {
        return true;
    }
    if (client_.closing() || client_.shutdown_requested()) {
        return false;
    }
    if (int rc = client_.write_from(pending, fill_from_engine, tls_.get()); rc != 0) {
        fail("client write failed: " + describe_uv_error(rc), true);
        return false;
    }
    return true;
}

void Session::update_backpressure() {
    if (phase_ == Phase::closing) {
        return;
    }
    // Client -> backend: bytes waiting for the backend bound how much we read from the client.
    if (!client_reading_done_) {
        const size_t waiting = backend_.pending_write_bytes() + pending_to_backend_.size();
        if (waiting > kHighWater) {
            client_.stop_reading();
        } else if (waiting <= net::Stream::kLowWater) {
            client_.start_reading();
        }
    }
    // Backend -> client: ciphertext waiting for the client bounds how much we read from the
    // backend, so a client that never reads cannot grow our memory.
    if (backend_connected_ && !backend_reading_done_) {
        const size_t waiting = client_.pending_write_bytes();
        if (waiting > kHighWater) {
            backend_.stop_reading();
        } else if (waiting <= net::Stream::kLowWater) {
            backend_.start_reading();
        }
    }
}

void Session::on_stream_drained(net::Stream&) {
    update_backpressure();
}

void Session::on_stream_eof(net::Stream& stream) {
    if (phase_ == Phase::closing) {
        return;
    }
    last_activity_ms_ = timer_.now();
    if (stream.tag() == kClient) {
        if (!tls_->handshake_done()) {
            service_->counters.handshakes_failed++;
            log::info("conn={} service={} TLS handshake failed from {}: client closed the "
                      "connection",
                      id_, settings().name, peer_);
            fail("handshake failed: client closed the connection", false);
            return;
        }
        // Every complete record was decrypted as it arrived; an end of stream without
        // close_notify is a truncation, which the close line reports.
        client_input_finished(false);
    } else {
        backend_input_finished();
    }
}

void Session::client_input_finished(bool clean) {
    if (client_reading_done_) {
        return;
    }
    client_reading_done_ = true;
    client_truncated_ = !clean;
    client_.stop_reading();
    if (backend_connected_) {
        backend_.shutdown();
    }
    maybe_finish();
}

void Session::backend_input_finished() {
    backend_reading_done_ = true;
    backend_.stop_reading();
    tls_->shutdown();
    flush_ciphertext();
    client_.shutdown();
    maybe_finish();
}

void Session::on_stream_shutdown(net::Stream& stream, int) {
    if (phase_ == Phase::closing) {
        stream.close();
        return;
    }
    if (stream.tag() == kClient) {
        to_client_finished_ = true;
    } else {
        to_backend_finished_ = true;
    }
    maybe_finish();
}

void Session::maybe_finish() {
    if (to_client_finished_ && to_backend_finished_) {
        close_reason_ = client_truncated_ ? "done (client sent no close_notify)" : "done";
        close_all(false);
    }
}

void Session::on_stream_error(net::Stream& stream, int uv_error) {
    if (phase_ == Phase::closing) {
        return;
    }
    const bool reset = uv_error == UV_ECONNRESET || uv_error == UV_EPIPE;
    if (stream.tag() == kClient) {
        if (!tls_->handshake_done()) {
            service_->counters.handshakes_failed++;
        }
        fail(reset ? "client reset" : "client error: " + describe_uv_error(uv_error), true);
    } else {
        fail(reset ? "backend reset" : "backend error: " + describe_uv_error(uv_error), true);
    }
}

void Session::on_timer(core::Timer&) {
    switch (phase_) {
    case Phase::handshake:
        service_->counters.handshakes_failed++;
        log::info("conn={} service={} TLS handshake failed from {}: timed out", id_,
                  settings().name, peer_);
        fail("handshake timeout", false);
        return;
    case Phase::connecting:
        service_->counters.backend_failures++;
        log::notice("conn={} service={} backend {} unavailable: connect timed out", id_,
                    settings().name, settings().backend.to_string());
        fail("backend connect timeout", false);
        return;
    case Phase::relaying: {
        const uint64_t idle_ms = static_cast<uint64_t>(settings().idle_timeout.count());
        const uint64_t quiet_ms = timer_.now() - last_activity_ms_;
        if (quiet_ms >= idle_ms) {
            fail("idle timeout", false);
        } else {
            timer_.start(idle_ms - quiet_ms);
        }
        return;
    }
    case Phase::closing:
        // The linger after a graceful close ran out: stop waiting for the peer to read.
        client_.close();
        backend_.close();
        timer_.close();
        return;
    }
}

void Session::arm_idle_timer() {
    timer_.start(static_cast<uint64_t>(settings().idle_timeout.count()));
}

void Session::fail(const std::string& reason, bool abortive) {
    if (phase_ == Phase::closing) {
        return;
    }
    close_reason_ = reason;
    close_all(abortive);
}

void Session::close_all(bool abortive) {
    phase_ = Phase::closing;
    client_.stop_reading();
    backend_.stop_reading();
    if (abortive) {
        client_.close(true);
        backend_.close(true);
        timer_.close();
        return;
    }
    // Graceful: say close_notify when the session got that far, and let queued bytes leave
    // before the sockets close (bounded by the linger timer).
    if (tls_ && tls_->valid() && tls_->handshake_done() && !tls_->shutdown_sent()) {
        tls_->shutdown();
        flush_ciphertext();
    }
    bool waiting = false;
    for (net::Stream* stream : {&client_, &backend_}) {
        if (stream->closing()) {
            continue;
        }
        if (stream->pending_write_bytes() > 0) {
            if (!stream->shutdown_requested()) {
                stream->shutdown();
            }
            waiting = true;
        } else {
            stream->close();
        }
    }
    if (waiting) {
        timer_.start(kCloseLingerMs);
    } else {
        timer_.close();
    }
}

void Session::on_stream_closed(net::Stream&) {
    release_if_closed();
}

void Session::on_timer_closed(core::Timer&) {
    release_if_closed();
}

void Session::release_if_closed() {
    if (--open_handles_ > 0) {
        if (client_.closing() && backend_.closing() && !timer_.closing()) {
            timer_.close();
        }
        return;
    }
    const uint64_t now = timer_.now();
    log::info("conn={} service={} close peer={} tls={} cipher={} handshake_ms={} in={} out={} "
              "duration_ms={} reason={}",
              id_, settings().name, peer_.empty() ? "unknown" : peer_, tls_version_, tls_cipher_,
              handshake_ms_, bytes_in_, bytes_out_, now - started_ms_, close_reason_);
    worker_.session_finished(this);
    delete this;
}

} // namespace tlsgate::proxy
