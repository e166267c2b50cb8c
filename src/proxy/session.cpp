#include "tlsgate/proxy/session.hpp"

#include "tlsgate/log/log.hpp"
#include "tlsgate/net/sockaddr.hpp"
#include "tlsgate/proxy/worker.hpp"

#include <algorithm>
#include <netdb.h>

namespace tlsgate::proxy {

namespace {

// How long a graceful close may wait for the last bytes (an alert, close_notify, a
// protocol's goodbye) to leave.
constexpr uint64_t kCloseLingerMs = 2000;

size_t fill_from_engine(void* context, char* out, size_t capacity) {
    return static_cast<tls::TlsEngine*>(context)->take_ciphertext(out, capacity);
}

std::string describe_uv_error(int uv_error) {
    return uv_strerror(uv_error);
}

uint64_t to_ms(config::Duration duration) {
    return static_cast<uint64_t>(duration.count());
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
                session->backend_unavailable("backend name lookup failed: " +
                                             describe_uv_error(status));
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
    started_ms_ = last_activity_ms_ = now();
    if (int rc = client_.accept_from(server); rc != 0) {
        fail("accept failed: " + describe_uv_error(rc), true);
        return;
    }
    peer_ = client_.peer_name();
    client_.set_nodelay();
    const bool implicit = settings().tls_mode == config::TlsMode::implicit;
    if (settings().protocol != config::Protocol::raw) {
        proto::FilterSettings filter_settings;
        filter_settings.protocol = settings().protocol;
        filter_settings.tls_active_from_start = implicit;
        filter_settings.starttls_policy = settings().starttls_policy;
        filter_settings.auth_requires_tls = settings().auth_requires_tls;
        filter_settings.max_line = settings().max_line;
        filter_settings.max_errors = settings().max_errors;
        filter_ = proto::make_server_filter(filter_settings);
    }
    if (implicit) {
        begin_client_tls();
    } else {
        // STARTTLS: the backend's greeting is what the client sees first.
        connect_backend();
        if (settings().starttls_policy == config::StarttlsPolicy::encrypt) {
            plaintext_deadline_ = now() + to_ms(settings().plaintext_timeout);
        }
    }
    if (closing_) {
        return;
    }
    arm_timer();
    client_.start_reading();
}

void Session::abort(const std::string& reason) {
    fail(reason, false);
}

// --- TLS toward the client ------------------------------------------------------------------

void Session::begin_client_tls() {
    tls_ = std::make_unique<tls::TlsEngine>(service_->server_context.get(), true);
    if (!tls_->valid()) {
        fail("TLS setup failed: " + tls_->error_reason(), true);
        return;
    }
    client_tls_active_ = true;
    update_backpressure(); // holds the backend until the handshake is done
    tls_started_ms_ = now();
    handshake_deadline_ = tls_started_ms_ + to_ms(settings().handshake_timeout);
    plaintext_deadline_ = 0;
    arm_timer();
}

void Session::drive_tls() {
    if (!tls_->handshake_done()) {
        const auto status = tls_->handshake();
        flush_ciphertext();
        if (status == tls::TlsEngine::Status::want_io) {
            return;
        }
        if (status != tls::TlsEngine::Status::ok) {
            handshake_failed(status == tls::TlsEngine::Status::closed ? "peer closed"
                                                                      : tls_->error_reason());
            return;
        }
        on_handshake_complete();
        if (closing_) {
            return;
        }
    }
    char* buffer = worker_.plaintext_buffer().bytes;
    while (!client_reading_done_ && !closing_) {
        size_t size = 0;
        const auto status = tls_->read(buffer, net::ReadBuffer::kSize, size);
        if (status == tls::TlsEngine::Status::ok) {
            on_client_plaintext(buffer, size);
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
    handshake_ms_ = now() - tls_started_ms_;
    handshake_deadline_ = 0;
    tls_version_ = tls_->version();
    tls_cipher_ = tls_->cipher();
    service_->counters.handshakes_completed++;
    log::info("conn={} service={} TLS connection established from {}: {} with cipher {} ({}/{} "
              "bits)",
              id_, settings().name, peer_, tls_version_, tls_cipher_, tls_->cipher_bits(),
              tls_->cipher_alg_bits());
    if (settings().tls_mode == config::TlsMode::starttls) {
        if (filter_) {
            proto::Actions actions;
            filter_->on_tls_established(actions);
            apply(actions);
        }
    } else {
        connect_backend();
    }
    update_backpressure();
    arm_timer();
}

void Session::handshake_failed(const std::string& reason) {
    service_->counters.handshakes_failed++;
    log::info("conn={} service={} TLS handshake failed from {}: {}", id_, settings().name, peer_,
              reason);
    fail(reason == "timed out" ? "handshake timeout" : "handshake failed: " + reason, false);
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

// --- Backend --------------------------------------------------------------------------------

void Session::connect_backend() {
    connect_deadline_ = now() + to_ms(settings().connect_timeout);
    arm_timer();
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
        backend_unavailable("backend name lookup failed: " + describe_uv_error(rc));
        return;
    }
    resolve_ = resolve;
}

void Session::connect_backend_to(const sockaddr* address) {
    if (int rc = backend_.connect(address); rc != 0) {
        backend_unavailable("backend connect failed: " + describe_uv_error(rc));
    }
}

void Session::on_stream_connected(net::Stream&, int status) {
    if (closing_) {
        return;
    }
    connect_deadline_ = 0;
    if (status != 0) {
        backend_unavailable("backend connect failed: " + describe_uv_error(status));
        return;
    }
    on_backend_connected();
}

void Session::on_backend_connected() {
    backend_connected_ = true;
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
    arm_timer();
    update_backpressure();
}

void Session::backend_unavailable(const std::string& reason) {
    if (closing_) {
        return;
    }
    connect_deadline_ = 0;
    service_->counters.backend_failures++;
    log::notice("conn={} service={} backend {} unavailable: {}", id_, settings().name,
                settings().backend.to_string(), reason);
    // A mail client gets its protocol's "try again later" before the close.
    if (filter_) {
        const std::string reply = filter_->backend_unavailable_reply();
        deliver_to_client(reply.data(), reply.size());
    }
    fail(reason, false);
}

// --- Plaintext, through the filter ----------------------------------------------------------

void Session::on_client_plaintext(const char* data, size_t size) {
    if (filtering()) {
        proto::Actions actions;
        filter_->on_client_data(std::string_view(data, size), actions);
        apply(actions);
    } else {
        deliver_to_backend(data, size);
    }
}

void Session::on_backend_plaintext(const char* data, size_t size) {
    if (filtering()) {
        proto::Actions actions;
        filter_->on_backend_data(std::string_view(data, size), actions);
        apply(actions);
    } else {
        deliver_to_client(data, size);
    }
}

void Session::apply(proto::Actions& actions) {
    for (const auto& event : actions.log) {
        log::emit(event.level, "conn={} service={} {}", id_, settings().name, event.message);
    }
    if (!actions.to_backend.empty()) {
        deliver_to_backend(actions.to_backend.data(), actions.to_backend.size());
    }
    if (closing_) {
        return;
    }
    if (!actions.to_client.empty()) {
        deliver_to_client(actions.to_client.data(), actions.to_client.size());
    }
    if (closing_) {
        return;
    }
    if (actions.start_tls) {
        // The go-ahead is queued in plaintext before any handshake byte: the stream keeps
        // write order. Client bytes after the STARTTLS line were discarded by the filter.
        begin_client_tls();
    }
    if (actions.close) {
        fail(actions.close_reason.empty() ? "closed by protocol filter" : actions.close_reason,
             false);
    }
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
    if (!client_tls_active_) {
        if (int rc = client_.write(data, size); rc != 0) {
            fail("client write failed: " + describe_uv_error(rc), true);
            return;
        }
    } else if (!tls_->handshake_done()) {
        // Nothing can be sent while the handshake runs; the filter holds back backend output
        // until TLS is up, so this is only a race with a backend that talks unasked.
        fail("backend sent data during the TLS handshake", false);
        return;
    } else if (tls_->write(data, size) != tls::TlsEngine::Status::ok) {
        fail("TLS error: " + tls_->error_reason(), true);
        return;
    } else if (!flush_ciphertext()) {
        return;
    }
    update_backpressure();
}

void Session::update_backpressure() {
    if (closing_) {
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
    // Backend -> client: bytes waiting for the client bound how much we read from the
    // backend, so a client that never reads cannot grow our memory. Nothing can go to the
    // client while its TLS handshake runs, so the backend waits in its socket buffer.
    if (backend_connected_ && !backend_reading_done_) {
        const size_t waiting = client_.pending_write_bytes();
        if (waiting > kHighWater || (client_tls_active_ && !tls_->handshake_done())) {
            backend_.stop_reading();
        } else if (waiting <= net::Stream::kLowWater) {
            backend_.start_reading();
        }
    }
}

// --- Stream events --------------------------------------------------------------------------

void Session::on_stream_read(net::Stream& stream, const char* data, size_t size) {
    if (closing_) {
        return;
    }
    last_activity_ms_ = now();
    if (stream.tag() == kBackend) {
        on_backend_plaintext(data, size);
    } else if (client_tls_active_) {
        tls_->feed(data, size);
        drive_tls();
    } else {
        on_client_plaintext(data, size);
    }
}

void Session::on_stream_drained(net::Stream&) {
    update_backpressure();
}

void Session::on_stream_eof(net::Stream& stream) {
    if (closing_) {
        return;
    }
    last_activity_ms_ = now();
    if (stream.tag() == kBackend) {
        backend_input_finished();
    } else if (client_tls_active_ && !tls_->handshake_done()) {
        handshake_failed("client closed the connection");
    } else {
        // Every complete record was decrypted as it arrived; an end of stream without
        // close_notify is a truncation, which the close line reports.
        client_input_finished(!client_tls_active_);
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
    if (client_tls_active_) {
        if (!tls_->handshake_done()) {
            fail("backend closed during the TLS handshake", false);
            return;
        }
        tls_->shutdown();
        flush_ciphertext();
    }
    client_.shutdown();
    maybe_finish();
}

void Session::on_stream_shutdown(net::Stream& stream, int) {
    if (closing_) {
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
    if (closing_) {
        return;
    }
    const bool reset = uv_error == UV_ECONNRESET || uv_error == UV_EPIPE;
    if (stream.tag() == kClient) {
        if (client_tls_active_ && !tls_->handshake_done()) {
            service_->counters.handshakes_failed++;
        }
        fail(reset ? "client reset" : "client error: " + describe_uv_error(uv_error), true);
    } else {
        fail(reset ? "backend reset" : "backend error: " + describe_uv_error(uv_error), true);
    }
}

// --- Deadlines ------------------------------------------------------------------------------

void Session::arm_timer() {
    if (closing_) {
        return;
    }
    uint64_t deadline = last_activity_ms_ + to_ms(settings().idle_timeout);
    for (uint64_t candidate : {handshake_deadline_, connect_deadline_, plaintext_deadline_}) {
        if (candidate != 0) {
            deadline = std::min(deadline, candidate);
        }
    }
    const uint64_t current = now();
    timer_.start(deadline > current ? deadline - current : 0);
}

void Session::on_timer(core::Timer&) {
    const uint64_t current = now();
    if (closing_) {
        // The linger after a graceful close ran out: stop waiting for the peer to read.
        client_.close();
        backend_.close();
        timer_.close();
        return;
    }
    if (handshake_deadline_ != 0 && current >= handshake_deadline_) {
        handshake_failed("timed out");
        return;
    }
    if (connect_deadline_ != 0 && current >= connect_deadline_) {
        backend_unavailable("backend connect timeout");
        return;
    }
    const bool plaintext_expired = plaintext_deadline_ != 0 && current >= plaintext_deadline_;
    const bool idle_expired = current - last_activity_ms_ >= to_ms(settings().idle_timeout);
    if (plaintext_expired || idle_expired) {
        if (filtering()) {
            const std::string goodbye = filter_->timeout_reply();
            deliver_to_client(goodbye.data(), goodbye.size());
        }
        fail(plaintext_expired ? "plaintext timeout (no STARTTLS)" : "idle timeout", false);
        return;
    }
    arm_timer();
}

// --- Closing --------------------------------------------------------------------------------

void Session::fail(const std::string& reason, bool abortive) {
    if (closing_) {
        return;
    }
    close_reason_ = reason;
    close_all(abortive);
}

void Session::close_all(bool abortive) {
    closing_ = true;
    client_.stop_reading();
    backend_.stop_reading();
    if (abortive) {
        client_.close(true);
        backend_.close(true);
        timer_.close();
        return;
    }
    // Graceful: say close_notify when the session got that far, and let queued bytes leave
    // before the sockets close (bounded by the linger).
    if (client_tls_active_ && tls_->handshake_done() && !tls_->shutdown_sent()) {
        tls_->shutdown();
        flush_ciphertext();
    }
    bool waiting = false;
    for (net::Stream* stream : {&client_, &backend_}) {
        if (stream->closing()) {
            continue;
        }
        if (stream->pending_write_bytes() > 0) {
            stream->shutdown();
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

void Session::add_filter_counters() {
    if (!filter_) {
        return;
    }
    const proto::FilterCounters& counters = filter_->counters();
    ServiceCounters& totals = service_->counters;
    totals.starttls_completed += counters.starttls_completed;
    totals.auth_refused_before_tls += counters.auth_refused_before_tls;
    totals.commands_refused += counters.commands_refused;
    totals.injected_bytes_discarded += counters.injected_bytes_discarded;
    totals.overlong_lines += counters.overlong_lines;
}

void Session::release_if_closed() {
    if (--open_handles_ > 0) {
        if (client_.closing() && backend_.closing() && !timer_.closing()) {
            timer_.close();
        }
        return;
    }
    add_filter_counters();
    log::info("conn={} service={} close peer={} tls={} cipher={} handshake_ms={} in={} out={} "
              "duration_ms={} reason={}",
              id_, settings().name, peer_.empty() ? "unknown" : peer_, tls_version_, tls_cipher_,
              handshake_ms_, bytes_in_, bytes_out_, now() - started_ms_, close_reason_);
    worker_.session_finished(this);
    delete this;
}

} // namespace tlsgate::proxy
