// How bytes flow through a session: plaintext from either end goes through the protocol
// dialogue (filter or prelude) while one is in the way, else straight to the other end; the
// dialogue's actions are carried out in order; reads follow the watermarks.
#include "tlsgate/proxy/session.hpp"
#include "tlsgate/proxy/worker.hpp"

namespace tlsgate::proxy {

// --- Plaintext, through the filter or the prelude -------------------------------------------

void Session::on_transport_plaintext(Transport& from, const char* data, size_t size) {
    if (from.is_client()) {
        if (filtering()) {
            proto::Actions actions;
            filter_->on_client_data(std::string_view(data, size), actions);
            apply(actions);
        } else {
            send(backend_, data, size);
        }
    } else if (in_prelude()) {
        proto::Actions actions;
        prelude_->on_backend_data(std::string_view(data, size), actions);
        apply(actions);
    } else if (filtering()) {
        proto::Actions actions;
        filter_->on_backend_data(std::string_view(data, size), actions);
        apply(actions);
    } else {
        send(client_, data, size);
    }
    if (worker_.draining()) {
        end_if_idle();
    }
}

void Session::end_if_idle() {
    if (closing() || !idle_ || !filter_ ||
        !(phase_ == Phase::filtering || phase_ == Phase::relaying)) {
        return;
    }
    if (!filter_->quiet() || !idle_->between_commands()) {
        return;
    }
    send(client_, idle_->goodbye());
    fail("shutting down: ended between commands", CloseMode::graceful);
}

void Session::apply(proto::Actions& actions) {
    for (const auto& event : actions.log) {
        log_(event.level, "{}", event.message);
    }
    if (prelude_) {
        // A filter counts what it dropped itself (FilterCounters, added at the close).
        service_->counters.injected_bytes_discarded += actions.discarded_bytes;
    }
    if (!actions.to_backend.empty()) {
        send(backend_, actions.to_backend);
    }
    if (!closing() && !actions.to_client.empty()) {
        send(client_, actions.to_client);
    }
    if (closing()) {
        return;
    }
    if (actions.start_tls) {
        // Server mode: the go-ahead is queued in plaintext before any handshake byte (the
        // stream keeps write order); client bytes after the STARTTLS line were discarded by
        // the filter. Client mode: the server gave its go-ahead.
        begin_tls(settings().client ? backend_ : client_);
    }
    if (actions.close) {
        const char* fallback =
            prelude_ ? "STARTTLS with the server failed" : "closed by protocol filter";
        fail(actions.close_reason.empty() ? fallback : actions.close_reason, CloseMode::graceful);
        return;
    }
    if (actions.plaintext_fallback) {
        handshake_deadline_ = 0; // no TLS: the prelude is over
        set_phase(Phase::relaying);
        backend_ready();
    }
    if (phase_ == Phase::filtering && !filtering() && !in_prelude()) {
        set_phase(steady_phase()); // the filter stepped aside
    }
    update_backpressure(); // the filter may have filled up, or made room
}

void Session::send(Transport& to, const char* data, size_t size) {
    if (size == 0 || closing()) {
        return;
    }
    (to.is_client() ? bytes_out_ : bytes_in_) += size;
    if (idle_) {
        const std::string_view bytes(data, size);
        to.is_client() ? idle_->to_client(bytes) : idle_->to_backend(bytes);
    }
    if (!to.is_client() && !connector_.connected()) {
        pending_to_backend_.append(data, size);
        update_backpressure();
        return;
    }
    if (!to.send(data, size)) {
        return;
    }
    update_backpressure();
}

void Session::update_backpressure() {
    if (closing()) {
        return;
    }
    // Bytes waiting for one end bound how much is read from the other; nothing is read from
    // one end while the other is in its TLS handshake (there is nowhere to put it).
    // A filter that holds all the client input it may (pipelined commands the backend has
    // not answered yet) stops the client's reads too: its memory is bounded, not the
    // client's to grow.
    const size_t to_backend = backend_.stream().pending_write_bytes() + pending_to_backend_.size();
    const bool filter_full = filtering() && !filter_->wants_client_input();
    if (!client_.input_done()) {
        if (!client_may_read_ || to_backend > kHighWater || filter_full ||
            (backend_.in_handshake() && !client_.in_handshake())) {
            client_.stream().stop_reading();
        } else if (to_backend <= net::Stream::kLowWater) {
            client_.stream().start_reading();
        }
    }
    if (connector_.connected() && !backend_.input_done()) {
        const size_t to_client = client_.stream().pending_write_bytes();
        if (to_client > kHighWater || (client_.in_handshake() && !backend_.in_handshake())) {
            backend_.stream().stop_reading();
        } else if (to_client <= net::Stream::kLowWater) {
            backend_.stream().start_reading();
        }
    }
}

} // namespace tlsgate::proxy
