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
      backend_(worker.loop(),
               service_->settings.backends.empty() ? net::Address::Kind::unix_socket
                                                   : service_->settings.backends[0].kind,
               *this, worker.read_buffer(), kBackend),
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
    if (int rc = client_.stream.accept_from(server); rc != 0) {
        fail("accept failed: " + describe_uv_error(rc), true);
        return;
    }
    peer_ = client_.stream.peer_name();
    client_.stream.set_nodelay();
    const bool implicit = settings().tls_mode == config::TlsMode::implicit;
    const bool mail = settings().protocol != config::Protocol::raw;

    if (settings().client) {
        // Nothing from the local program is read before the backend is ready.
        client_may_read_ = false;
        if (mail && !implicit) {
            proto::ClientPreludeSettings prelude_settings;
            prelude_settings.protocol = settings().protocol;
            prelude_settings.starttls_policy = settings().starttls_policy;
            prelude_ = proto::make_client_prelude(prelude_settings);
        }
        connect_backend();
    } else {
        if (mail) {
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
            begin_tls(client_);
        } else {
            // STARTTLS: the backend's greeting is what the client sees first.
            connect_backend();
            if (settings().starttls_policy == config::StarttlsPolicy::encrypt) {
                plaintext_deadline_ = now() + to_ms(settings().plaintext_timeout);
            }
        }
    }
    if (closing_) {
        return;
    }
    arm_timer();
    update_backpressure();
}

void Session::abort(const std::string& reason) {
    fail(reason, false);
}

std::string Session::failure_reply(const std::string& why) const {
    if (filter_) {
        return filter_->backend_unavailable_reply();
    }
    if (prelude_) {
        return prelude_->failure_reply(why);
    }
    return "";
}

// --- TLS on either end ----------------------------------------------------------------------

void Session::begin_tls(End& end) {
    const bool server_role = is_client(end);
    SSL_CTX* ctx = server_role ? service_->server_context.get() : service_->client_context.get();
    end.tls = std::make_unique<tls::TlsEngine>(ctx, server_role, &worker_.chunk_pool());
    if (!end.tls->valid()) {
        fail("TLS setup failed: " + end.tls->error_reason(), true);
        return;
    }
    if (!server_role) {
        const config::TlsSettings& tls = settings().tls;
        const net::Address& backend = backend_address();
        const std::string host = backend.kind == net::Address::Kind::tcp ? backend.host : "";
        // SNI carries host names only, never an IP literal (RFC 6066).
        std::string sni = tls.sni.value_or(backend.host_is_ip ? "" : host);
        std::string check_host =
            tls.verify == config::VerifyMode::peer ? tls.check_host.value_or(host) : "";
        end.tls->set_peer_name(sni, check_host);
    }
    tls_started_ms_ = now();
    handshake_deadline_ = tls_started_ms_ + to_ms(settings().handshake_timeout);
    plaintext_deadline_ = 0;
    update_backpressure(); // the other end waits until the handshake is done
    arm_timer();
    if (!server_role) {
        drive_tls(end); // the client speaks first: send the ClientHello
    }
}

void Session::drive_tls(End& end) {
    if (!end.tls->handshake_done()) {
        const auto status = end.tls->handshake();
        flush_ciphertext(end);
        if (status == tls::TlsEngine::Status::want_io) {
            return;
        }
        if (status != tls::TlsEngine::Status::ok) {
            handshake_failed(end, status == tls::TlsEngine::Status::closed
                                      ? "peer closed"
                                      : end.tls->error_reason());
            return;
        }
        on_handshake_complete(end);
        if (closing_) {
            return;
        }
    }
    char* buffer = worker_.plaintext_buffer().bytes;
    while (!end.input_done && !closing_) {
        size_t size = 0;
        const auto status = end.tls->read(buffer, net::ReadBuffer::kSize, size);
        if (status == tls::TlsEngine::Status::ok) {
            on_plaintext(end, buffer, size);
        } else if (status == tls::TlsEngine::Status::want_io) {
            break;
        } else if (status == tls::TlsEngine::Status::closed) {
            input_finished(end, true);
        } else {
            flush_ciphertext(end);
            fail(std::string(is_client(end) ? "client" : "backend") +
                     " TLS error: " + end.tls->error_reason(),
                 false);
            return;
        }
    }
    // Post-handshake messages (tickets, key updates, alerts) leave here.
    flush_ciphertext(end);
}

void Session::on_handshake_complete(End& end) {
    handshake_ms_ = now() - tls_started_ms_;
    handshake_deadline_ = 0;
    tls_version_ = end.tls->version();
    tls_cipher_ = end.tls->cipher();
    service_->counters.handshakes_completed++;
    if (is_client(end)) {
        log::info("conn={} service={} TLS connection established from {}: {} with cipher {} "
                  "({}/{} bits)",
                  id_, settings().name, peer_, tls_version_, tls_cipher_, end.tls->cipher_bits(),
                  end.tls->cipher_alg_bits());
        if (settings().tls_mode == config::TlsMode::starttls) {
            if (filter_) {
                proto::Actions actions;
                filter_->on_tls_established(actions);
                apply(actions);
            }
        } else {
            connect_backend();
        }
    } else {
        log::info("conn={} service={} TLS connection established to {}: {} with cipher {} "
                  "({}/{} bits){}",
                  id_, settings().name, backend_address().to_string(), tls_version_, tls_cipher_,
                  end.tls->cipher_bits(), end.tls->cipher_alg_bits(),
                  settings().tls.verify == config::VerifyMode::peer ? ", certificate verified"
                                                                    : ", certificate NOT checked");
        if (prelude_) {
            proto::ClientActions actions;
            prelude_->on_tls_established(actions);
            apply(actions);
        }
        if (!closing_) {
            backend_ready();
        }
    }
    update_backpressure();
    arm_timer();
}

void Session::handshake_failed(End& end, const std::string& reason) {
    service_->counters.handshakes_failed++;
    if (is_client(end)) {
        log::info("conn={} service={} TLS handshake failed from {}: {}", id_, settings().name,
                  peer_, reason);
    } else {
        log::notice("conn={} service={} TLS handshake failed to {}: {}", id_, settings().name,
                    backend_address().to_string(), reason);
        const std::string reply = failure_reply("TLS with the server failed");
        send(client_, reply.data(), reply.size());
    }
    fail(reason == "timed out" ? "handshake timeout" : "handshake failed: " + reason, false);
}

bool Session::flush_ciphertext(End& end) {
    const size_t pending = end.tls ? end.tls->pending_ciphertext() : 0;
    if (pending == 0) {
        return true;
    }
    if (end.stream.closing() || end.stream.shutdown_requested()) {
        return false;
    }
    if (int rc = end.stream.write_from(pending, fill_from_engine, end.tls.get()); rc != 0) {
        fail(std::string(is_client(end) ? "client" : "backend") +
                 " write failed: " + describe_uv_error(rc),
             true);
        return false;
    }
    return true;
}

// --- Backend --------------------------------------------------------------------------------

void Session::connect_backend() {
    connect_deadline_ = now() + to_ms(settings().connect_timeout);
    arm_timer();
    const net::Address& backend = backend_address();
    if (backend.kind == net::Address::Kind::unix_socket) {
        backend_.stream.connect_unix(backend.path);
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
    if (int rc = backend_.stream.connect(address); rc != 0) {
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
    backend_.stream.set_nodelay();
    if (settings().client && !prelude_) {
        begin_tls(backend_); // client mode, implicit TLS
    }
    if (!pending_to_backend_.empty()) {
        std::string pending;
        pending.swap(pending_to_backend_);
        bytes_in_ -= pending.size(); // counted once already, when it was queued
        send(backend_, pending.data(), pending.size());
        if (closing_) {
            return;
        }
    }
    if (client_.input_done) {
        backend_.stream.shutdown();
    }
    arm_timer();
    update_backpressure();
}

void Session::backend_ready() {
    client_may_read_ = true;
    update_backpressure();
}

void Session::backend_unavailable(const std::string& reason) {
    if (closing_) {
        return;
    }
    connect_deadline_ = 0;
    service_->counters.backend_failures++;
    log::notice("conn={} service={} backend {} unavailable: {}", id_, settings().name,
                backend_address().to_string(), reason);
    // A mail client gets its protocol's "try again later" before the close.
    const std::string reply = failure_reply("backend unavailable");
    send(client_, reply.data(), reply.size());
    fail(reason, false);
}

// --- Plaintext, through the filter or the prelude -------------------------------------------

void Session::on_plaintext(End& from, const char* data, size_t size) {
    if (is_client(from)) {
        if (filtering()) {
            proto::Actions actions;
            filter_->on_client_data(std::string_view(data, size), actions);
            apply(actions);
        } else {
            send(backend_, data, size);
        }
    } else if (in_prelude()) {
        proto::ClientActions actions;
        prelude_->on_server_data(std::string_view(data, size), actions);
        apply(actions);
    } else if (filtering()) {
        proto::Actions actions;
        filter_->on_backend_data(std::string_view(data, size), actions);
        apply(actions);
    } else {
        send(client_, data, size);
    }
}

void Session::apply(proto::Actions& actions) {
    for (const auto& event : actions.log) {
        log::emit(event.level, "conn={} service={} {}", id_, settings().name, event.message);
    }
    if (!actions.to_backend.empty()) {
        send(backend_, actions.to_backend.data(), actions.to_backend.size());
    }
    if (!closing_ && !actions.to_client.empty()) {
        send(client_, actions.to_client.data(), actions.to_client.size());
    }
    if (closing_) {
        return;
    }
    if (actions.start_tls) {
        // The go-ahead is queued in plaintext before any handshake byte: the stream keeps
        // write order. Client bytes after the STARTTLS line were discarded by the filter.
        begin_tls(client_);
    }
    if (actions.close) {
        fail(actions.close_reason.empty() ? "closed by protocol filter" : actions.close_reason,
             false);
    }
}

void Session::apply(proto::ClientActions& actions) {
    for (const auto& event : actions.log) {
        log::emit(event.level, "conn={} service={} {}", id_, settings().name, event.message);
    }
    service_->counters.injected_bytes_discarded += actions.discarded_server_bytes;
    if (!actions.to_server.empty()) {
        send(backend_, actions.to_server.data(), actions.to_server.size());
    }
    if (!closing_ && !actions.to_local.empty()) {
        send(client_, actions.to_local.data(), actions.to_local.size());
    }
    if (closing_) {
        return;
    }
    if (actions.fail) {
        fail(actions.fail_reason.empty() ? "STARTTLS with the server failed" : actions.fail_reason,
             false);
    } else if (actions.start_tls) {
        begin_tls(backend_);
    } else if (actions.plaintext_fallback) {
        backend_ready();
    }
}

void Session::send(End& to, const char* data, size_t size) {
    if (size == 0 || closing_) {
        return;
    }
    (is_client(to) ? bytes_out_ : bytes_in_) += size;
    if (!is_client(to) && !backend_connected_) {
        pending_to_backend_.append(data, size);
        update_backpressure();
        return;
    }
    if (!to.tls) {
        if (int rc = to.stream.write(data, size); rc != 0) {
            fail(std::string(is_client(to) ? "client" : "backend") +
                     " write failed: " + describe_uv_error(rc),
                 true);
            return;
        }
    } else if (!to.tls->handshake_done()) {
        // The other end is not read while a handshake runs, so this is only a peer that talks
        // unasked at the worst moment.
        fail("data arrived for an end whose TLS handshake is still running", false);
        return;
    } else if (to.tls->write(data, size) != tls::TlsEngine::Status::ok) {
        fail("TLS error: " + to.tls->error_reason(), true);
        return;
    } else if (!flush_ciphertext(to)) {
        return;
    }
    update_backpressure();
}

void Session::update_backpressure() {
    if (closing_) {
        return;
    }
    // Bytes waiting for one end bound how much is read from the other; nothing is read from
    // one end while the other is in its TLS handshake (there is nowhere to put it).
    const size_t to_backend = backend_.stream.pending_write_bytes() + pending_to_backend_.size();
    if (!client_.input_done) {
        if (!client_may_read_ || to_backend > kHighWater ||
            (backend_.in_handshake() && !client_.in_handshake())) {
            client_.stream.stop_reading();
        } else if (to_backend <= net::Stream::kLowWater) {
            client_.stream.start_reading();
        }
    }
    if (backend_connected_ && !backend_.input_done) {
        const size_t to_client = client_.stream.pending_write_bytes();
        if (to_client > kHighWater || (client_.in_handshake() && !backend_.in_handshake())) {
            backend_.stream.stop_reading();
        } else if (to_client <= net::Stream::kLowWater) {
            backend_.stream.start_reading();
        }
    }
}

// --- Stream events --------------------------------------------------------------------------

void Session::on_stream_read(net::Stream& stream, const char* data, size_t size) {
    if (closing_) {
        return;
    }
    last_activity_ms_ = now();
    End& from = end_of(stream);
    if (from.tls) {
        from.tls->feed(data, size);
        drive_tls(from);
    } else {
        on_plaintext(from, data, size);
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
    End& from = end_of(stream);
    if (from.in_handshake()) {
        handshake_failed(from, "connection closed by the peer");
    } else if (!is_client(from) && in_prelude()) {
        const std::string reply = failure_reply("the server closed the connection");
        send(client_, reply.data(), reply.size());
        fail("backend closed during the STARTTLS prelude", false);
    } else {
        // Every complete record was decrypted as it arrived; an end of stream without
        // close_notify is a truncation, which the close line reports.
        input_finished(from, !from.tls);
    }
}

void Session::input_finished(End& from, bool clean) {
    if (from.input_done) {
        return;
    }
    from.input_done = true;
    from.truncated = !clean;
    from.stream.stop_reading();
    End& to = other(from);
    const bool to_reachable = is_client(to) || backend_connected_;
    if (to_reachable) {
        if (to.tls_up()) {
            to.tls->shutdown();
            flush_ciphertext(to);
        }
        to.stream.shutdown();
    }
    maybe_finish();
}

void Session::on_stream_shutdown(net::Stream& stream, int) {
    if (closing_) {
        stream.close();
        return;
    }
    end_of(stream).output_done = true;
    maybe_finish();
}

void Session::maybe_finish() {
    if (client_.output_done && backend_.output_done) {
        const End& secured = settings().client ? backend_ : client_;
        close_reason_ =
            secured.truncated && secured.tls ? "done (peer sent no close_notify)" : "done";
        close_all(false);
    }
}

void Session::on_stream_error(net::Stream& stream, int uv_error) {
    if (closing_) {
        return;
    }
    End& from = end_of(stream);
    if (from.in_handshake()) {
        service_->counters.handshakes_failed++;
    }
    const bool reset = uv_error == UV_ECONNRESET || uv_error == UV_EPIPE;
    const std::string who = is_client(from) ? "client" : "backend";
    fail(reset ? who + " reset" : who + " error: " + describe_uv_error(uv_error), true);
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
        client_.stream.close();
        backend_.stream.close();
        timer_.close();
        return;
    }
    if (handshake_deadline_ != 0 && current >= handshake_deadline_) {
        handshake_failed(client_.in_handshake() ? client_ : backend_, "timed out");
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
            send(client_, goodbye.data(), goodbye.size());
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
    client_.stream.stop_reading();
    backend_.stream.stop_reading();
    if (abortive) {
        client_.stream.close(true);
        backend_.stream.close(true);
        timer_.close();
        return;
    }
    // Graceful: say close_notify where TLS is up, and let queued bytes leave before the
    // sockets close (bounded by the linger).
    bool waiting = false;
    for (End* end : {&client_, &backend_}) {
        if (end->stream.closing()) {
            continue;
        }
        if (end->tls_up() && !end->tls->shutdown_sent()) {
            end->tls->shutdown();
            const size_t pending = end->tls->pending_ciphertext();
            if (pending > 0 && !end->stream.shutdown_requested()) {
                end->stream.write_from(pending, fill_from_engine, end->tls.get());
            }
        }
        if (end->stream.pending_write_bytes() > 0) {
            end->stream.shutdown();
            waiting = true;
        } else {
            end->stream.close();
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
        if (client_.stream.closing() && backend_.stream.closing() && !timer_.closing()) {
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

std::string Session::describe() const {
    const char* state = "relay";
    if (closing_) {
        state = "closing";
    } else if (client_.in_handshake() || backend_.in_handshake()) {
        state = "handshake";
    } else if (!backend_connected_) {
        state = "connecting";
    } else if (filtering() || in_prelude()) {
        state = "plaintext";
    } else if (client_.input_done || backend_.input_done) {
        state = "half-closed";
    }
    std::string backend = "none";
    if (settings().exec) {
        backend = "exec:" + *settings().exec;
    } else if (backend_index_ < settings().backends.size()) {
        backend = settings().backends[backend_index_].to_string();
    }
    return fmt::format("conn={} service={} peer={} backend={} age_ms={} in={} out={} tls={} "
                       "state={}",
                       id_, settings().name, peer_.empty() ? "unknown" : peer_, backend,
                       now() - started_ms_, bytes_in_, bytes_out_, tls_version_, state);
}

} // namespace tlsgate::proxy
