// How a session ends: end of input and errors on either stream, half-close, the deadlines,
// the close (graceful or abortive, with its linger) and the release after the last handle.
#include "tlsgate/proxy/session.hpp"
#include "tlsgate/proxy/worker.hpp"

#include <algorithm>
#include <csignal>

namespace tlsgate::proxy {

namespace {

// After SIGTERM, how long an exec'd program that ignores it may take before SIGKILL, when the
// close_timeout is shorter still.
constexpr uint64_t kMinKillGraceMs = 1000;
// The longest a close may linger when the session is aborted (drain deadline, shutdown).
constexpr uint64_t kAbortLingerMs = 2000;

uint64_t to_ms(config::Duration duration) {
    return static_cast<uint64_t>(duration.count());
}

} // namespace

// --- Ends of input --------------------------------------------------------------------------

void Session::on_stream_eof(net::Stream& stream) {
    if (closing()) {
        stream.close(); // the lingering close is over
        return;
    }
    last_activity_ms_ = now();
    Transport& from = end_of(stream);
    if (from.in_handshake()) {
        handshake_failed(from, "connection closed by the peer");
    } else if (!from.is_client() && in_prelude()) {
        send(client_, failure_reply("the server closed the connection"));
        fail("backend closed during the STARTTLS prelude", CloseMode::graceful);
    } else if (!from.is_client() && retry_backend()) {
        return;
    } else {
        // Every complete record was decrypted as it arrived; an end of stream without
        // close_notify is a truncation, which the close line reports.
        input_finished(from,
                       from.has_tls() ? Transport::Input::truncated : Transport::Input::finished);
    }
}

void Session::input_finished(Transport& from, Transport::Input how) {
    if (from.input_done()) {
        return;
    }
    from.finish_input(how);
    from.stream().stop_reading();
    Transport& to = other(from);
    const bool to_reachable = to.is_client() || connector_.connected();
    if (to_reachable) {
        to.send_close_notify();
        to.stream().shutdown();
    }
    maybe_finish();
}

void Session::on_stream_shutdown(net::Stream& stream, int status) {
    if (closing()) {
        // Our FIN is out. With unread input, discard what the peer still sends until its FIN
        // (on_stream_eof) or the close timer; else nothing can turn the close into a RST.
        if (status != 0 || !stream.has_unread_input()) {
            stream.close();
        } else {
            stream.start_reading();
        }
        return;
    }
    end_of(stream).set_output_done();
    maybe_finish();
}

void Session::maybe_finish() {
    if (client_.output_done() && backend_.output_done()) {
        const Transport& secured = settings().client ? backend_ : client_;
        close_reason_ = secured.input() == Transport::Input::truncated
                            ? "done (peer sent no close_notify)"
                            : "done";
        close_all(CloseMode::graceful);
    }
}

void Session::on_stream_error(net::Stream& stream, int uv_error) {
    if (closing()) {
        stream.close();
        return;
    }
    Transport& from = end_of(stream);
    if (from.in_handshake()) {
        service_->counters.handshakes_failed++;
    }
    if (!from.is_client() && retry_backend()) {
        return;
    }
    const bool reset = uv_error == UV_ECONNRESET || uv_error == UV_EPIPE;
    const std::string who = from.side_name();
    fail(reset ? who + " reset" : who + " error: " + uv_strerror(uv_error), CloseMode::abortive);
}

// --- Deadlines ------------------------------------------------------------------------------

void Session::arm_timer() {
    if (closing()) {
        return;
    }
    uint64_t deadline = last_activity_ms_ + to_ms(settings().idle_timeout);
    for (uint64_t candidate : {handshake_deadline_, connector_.connect_deadline(),
                               plaintext_deadline_, connector_.restart_deadline()}) {
        if (candidate != 0) {
            deadline = std::min(deadline, candidate);
        }
    }
    const uint64_t current = now();
    timer_.start(deadline > current ? deadline - current : 0);
}

void Session::on_timer(core::Timer&) {
    const uint64_t current = now();
    if (closing()) {
        // The linger after a graceful close ran out: stop waiting for the peer to read, and
        // for an exec'd program that ignored SIGTERM. The timer is closed once the program
        // is gone (release_if_closed).
        client_.stream().close();
        backend_.stream().close();
        ExecBackend& program = connector_.program();
        if (program.running()) {
            log_(config::LogLevel::notice, "{} (pid {}) ignored SIGTERM: SIGKILL", *settings().exec,
                 program.pid());
            program.kill(SIGKILL);
        } else {
            timer_.close();
        }
        return;
    }
    const uint64_t restart = connector_.restart_deadline();
    if (restart != 0 && current >= restart) {
        connector_.restart_due();
        arm_timer();
        return;
    }
    if (handshake_deadline_ != 0 && current >= handshake_deadline_) {
        if (in_prelude() && !backend_.has_tls()) {
            prelude_timed_out();
            return;
        }
        handshake_failed(client_.in_handshake() ? client_ : backend_, "timed out");
        return;
    }
    const uint64_t connect = connector_.connect_deadline();
    if (connect != 0 && current >= connect) {
        connector_.attempt_failed("backend connect timeout");
        return;
    }
    const bool plaintext_expired = plaintext_deadline_ != 0 && current >= plaintext_deadline_;
    const bool idle_expired = current - last_activity_ms_ >= to_ms(settings().idle_timeout);
    if (plaintext_expired || idle_expired) {
        if (filtering()) {
            send(client_, filter_->timeout_reply());
        }
        fail(plaintext_expired ? "plaintext timeout (no STARTTLS)" : "idle timeout",
             CloseMode::graceful);
        return;
    }
    arm_timer();
}

// --- Closing --------------------------------------------------------------------------------

void Session::fail(const std::string& reason, CloseMode mode) {
    if (closing()) {
        return;
    }
    close_reason_ = reason;
    close_all(mode);
}

void Session::close_all(CloseMode mode) {
    phase_ = Phase::closing;
    connector_.stop();
    client_.stop_delivery();
    backend_.stop_delivery();
    client_.stream().stop_reading();
    backend_.stream().stop_reading();
    // An exec'd program goes with its connection; the timer stays to SIGKILL it if it
    // lingers, and to reap it (the process handle is closed only after its exit).
    ExecBackend& program = connector_.program();
    program.kill(SIGTERM);
    const uint64_t linger = linger_ == Linger::abort
                                ? std::min(to_ms(settings().close_timeout), kAbortLingerMs)
                                : to_ms(settings().close_timeout);
    if (mode == CloseMode::abortive) {
        // RST toward the client unless "reset" = false asks for an ordinary FIN.
        client_.stream().close(settings().reset);
        backend_.stream().close(true);
        if (program.running()) {
            timer_.start(std::max(linger, kMinKillGraceMs));
        } else {
            timer_.close();
        }
        return;
    }
    // Graceful: say close_notify where TLS is up, and let queued bytes leave before the
    // sockets close (bounded by close_timeout).
    bool waiting = false;
    for (Transport* end : {&client_, &backend_}) {
        net::Stream& stream = end->stream();
        if (stream.closing()) {
            continue;
        }
        end->send_close_notify();
        // Queued bytes leave before the socket closes. And a lingering close, as web servers
        // do, where the peer sent bytes nobody read: FIN first, then read and discard until
        // its FIN, because closing with unread input sends a RST, and a RST can destroy our
        // last reply (a refusal, a 421) before the peer has read it.
        if (stream.pending_write_bytes() == 0 && !stream.has_unread_input()) {
            stream.close();
        } else if (stream.shutdown_requested()) {
            if (end->output_done()) {
                stream.start_reading(); // our FIN went out earlier (half-close)
            }                           // else the pending shutdown's callback decides
            waiting = true;
        } else if (stream.shutdown() == 0) {
            waiting = true;
        } else {
            stream.close();
        }
    }
    if (program.running()) {
        timer_.start(std::max(linger, kMinKillGraceMs));
    } else if (waiting) {
        timer_.start(linger);
    } else {
        timer_.close();
    }
}

void Session::on_stream_closed(net::Stream& stream) {
    if (!end_of(stream).is_client() && connector_.on_stream_closed()) {
        arm_timer(); // the connector made the stream again and may have connected
        return;
    }
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
    totals.early_talkers += counters.early_talkers;
}

void Session::release_if_closed() {
    // Freed once libuv has let go of every handle: both streams, the timer and an exec'd
    // program's process handle.
    const bool program_gone = !connector_.program().active();
    if (!client_.stream().released() || !backend_.stream().released() || !timer_.released() ||
        !program_gone) {
        if (client_.stream().closing() && backend_.stream().closing() && program_gone &&
            !timer_.closing()) {
            timer_.close();
        }
        return;
    }
    add_filter_counters();
    // (Not when the failed handshake it would repeat was left out by the rate limit.)
    if (!close_line_suppressed_) {
        // stunnel's "accepted connection from", "connected remote server from", byte counts and
        // how it ended, on one line. in/out are plaintext bytes (client->backend, backend->client).
        log_(config::LogLevel::info,
             "close peer={} backend={} backend_local={} failed={} tls={} cipher={} handshake_ms={} "
             "in={} out={} duration_ms={} close={} reason={}",
             peer_.empty() ? "unknown" : peer_, backend_used_ ? connector_.name() : "none",
             backend_local_.empty() ? "none" : backend_local_,
             connector_.failed().empty() ? "none" : connector_.failed(), tls_version_, tls_cipher_,
             handshake_ms_, bytes_in_, bytes_out_, now() - started_ms_,
             client_.stream().reset_sent() ? "rst" : "fin", close_reason_);
    }
    worker_.session_finished(this);
    delete this;
}

std::string Session::describe() const {
    const char* state = "relay";
    if (closing()) {
        state = "closing";
    } else if (client_.in_handshake() || backend_.in_handshake()) {
        state = "handshake";
    } else if (!connector_.connected()) {
        state = "connecting";
    } else if (filtering() || in_prelude()) {
        state = "plaintext";
    } else if (client_.input_done() || backend_.input_done()) {
        state = "half-closed";
    }
    std::string backend = "none";
    if (settings().exec) {
        backend = "exec:" + *settings().exec;
    } else if (!settings().backends.empty()) {
        backend = connector_.address().to_string();
    }
    return fmt::format("conn={} service={} peer={} backend={} age_ms={} in={} out={} tls={} "
                       "state={}",
                       log_.id(), settings().name, peer_.empty() ? "unknown" : peer_, backend,
                       now() - started_ms_, bytes_in_, bytes_out_, tls_version_, state);
}

} // namespace tlsgate::proxy
