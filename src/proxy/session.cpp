#include "tlsgate/proxy/session.hpp"

#include "tlsgate/log/log.hpp"
#include "tlsgate/log/rate_limit.hpp"
#include "tlsgate/proto/proxy_header.hpp"
#include "tlsgate/proxy/protocol_settings.hpp"
#include "tlsgate/proxy/worker.hpp"
#include "tlsgate/tls/sni_router.hpp"

#include <cassert>
#include <chrono>
#include <unistd.h>

namespace tlsgate::proxy {

namespace {

uint64_t to_ms(config::Duration duration) {
    return static_cast<uint64_t>(duration.count());
}

// Failed handshakes are what a scanner or a password sprayer makes at will: per client
// address at most this many lines a minute (across workers), then a count.
constexpr uint32_t kHandshakeFailureLinesPerMinute = 10;
constexpr size_t kHandshakeFailureSources = 4096;

log::SourceRateLimiter& handshake_failure_limiter() {
    static log::SourceRateLimiter limiter(kHandshakeFailureSources, kHandshakeFailureLinesPerMinute,
                                          60'000);
    return limiter;
}

int64_t steady_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

} // namespace

Session::Session(Worker& worker, std::shared_ptr<Service> service, net::Address::Kind client_kind)
    : Session(worker, service, client_kind, BackendConnector::plan(*service)) {}

Session::Session(Worker& worker, std::shared_ptr<Service> service, net::Address::Kind client_kind,
                 std::vector<size_t> backend_order)
    : worker_(worker), service_(std::move(service)),
      log_(worker.next_connection_id(), service_->settings),
      client_(worker.loop(), client_kind, *this, *this, worker.read_buffer(),
              worker.plaintext_buffer(), worker.chunk_pool(), Transport::Side::client),
      backend_(worker.loop(), BackendConnector::first_kind(*service_, backend_order), *this, *this,
               worker.read_buffer(), worker.plaintext_buffer(), worker.chunk_pool(),
               Transport::Side::backend),
      connector_(worker.loop(), service_, std::move(backend_order), backend_.stream(), log_, *this),
      timer_(worker.loop(), *this) {
    worker_.session_started(this);
    service_->counters.accepted++;
    service_->counters.active++;
}

Session::~Session() {
    service_->counters.active--;
}

void Session::start(uv_stream_t* server) {
    started_ms_ = last_activity_ms_ = now();
    if (int rc = client_.stream().accept_from(server); rc != 0) {
        fail(std::string("accept failed: ") + uv_strerror(rc), CloseMode::abortive);
        return;
    }
    begin();
}

void Session::start_fd(int fd) {
    started_ms_ = last_activity_ms_ = now();
    if (int rc = client_.stream().open_fd(fd); rc != 0) {
        ::close(fd);
        fail(std::string("cannot use the inetd connection: ") + uv_strerror(rc),
             CloseMode::abortive);
        return;
    }
    begin();
}

void Session::start_fds(int read_fd, int write_fd) {
    started_ms_ = last_activity_ms_ = now();
    if (int rc = client_.stream().open_fds(read_fd, write_fd); rc != 0) {
        fail(std::string("cannot use the inetd pipes: ") + uv_strerror(rc), CloseMode::abortive);
        return;
    }
    begin();
}

void Session::make_filter() {
    filter_.reset();
    idle_.reset();
    if (settings().protocol != config::Protocol::raw) {
        filter_ = proto::make_server_filter(filter_settings_for(settings()));
        idle_ = proto::IdleTracker::make(settings().protocol);
    }
}

void Session::begin() {
    peer_ = client_.stream().peer_name();
    log_.set_client(peer_);
    client_.stream().set_nodelay();
    apply_socket_options(*service_, client_.stream(), 'l', log_);
    log_(config::LogLevel::debug, "accepted connection from {}", peer_);
    const bool implicit = settings().tls_mode == config::TlsMode::implicit;
    const bool mail = settings().protocol != config::Protocol::raw;
    if (settings().client) {
        // Nothing from the local program is read before the backend is ready.
        client_may_read_ = false;
        if (mail && !implicit) {
            prelude_ = proto::make_client_prelude(prelude_settings_for(settings()));
        }
        connect_backend();
    } else {
        make_filter();
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
    if (closing()) {
        return;
    }
    arm_timer();
    update_backpressure();
}

void Session::abort(const std::string& reason) {
    // Ending now (drain deadline, second SIGTERM): a peer that does not read gets at most
    // kAbortLingerMs, not the whole close_timeout, so shutdown stays prompt.
    linger_ = Linger::abort;
    if (closing()) {
        // Already closing gracefully (waiting for queued bytes or the peer's FIN): end the
        // linger now; the timer's closing branch closes what is left.
        if (!timer_.closing()) {
            timer_.start(0);
        }
        return;
    }
    fail(reason, CloseMode::graceful);
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

// --- Phase ----------------------------------------------------------------------------------

void Session::set_phase(Phase phase) {
    if (closing()) {
        return; // closing is the last phase
    }
    phase_ = phase;
    check_invariants();
}

Session::Phase Session::steady_phase() const {
    if (!connector_.connected()) {
        return Phase::connecting;
    }
    return filtering() || in_prelude() ? Phase::filtering : Phase::relaying;
}

// Debug builds check that the phase agrees with what the parts say.
void Session::check_invariants() const {
#ifndef NDEBUG
    switch (phase_) {
    case Phase::starting:
    case Phase::closing:
        break;
    case Phase::connecting:
        assert(!connector_.connected());
        break;
    case Phase::handshaking:
        assert(client_.in_handshake() || backend_.in_handshake());
        break;
    case Phase::filtering:
        assert(filtering() || in_prelude());
        break;
    case Phase::relaying:
        assert(connector_.connected() && !client_.in_handshake() && !backend_.in_handshake());
        break;
    }
#endif
}

// --- TLS on either end ----------------------------------------------------------------------

void Session::begin_tls(Transport& end) {
    std::string sni;
    std::string check_host;
    if (!end.is_client()) {
        const config::TlsSettings& tls = settings().tls;
        // An exec'd program has no name: only configured sni/check_host apply to it.
        const net::Address none;
        const net::Address& backend = connector_.exec() ? none : connector_.address();
        const std::string host = backend.kind == net::Address::Kind::tcp ? backend.host : "";
        // SNI carries host names only, never an IP literal (RFC 6066).
        sni = tls.sni.value_or(backend.host_is_ip ? "" : host);
        // A configured check_host always applies; the backend's name is the default only
        // when the certificate is verified. check_ip/check_email (the context) apply as well.
        if (tls.check_host) {
            check_host = *tls.check_host;
        } else if (tls.verify == config::VerifyMode::peer) {
            check_host = host;
        }
    }
    SSL_CTX* ctx =
        end.is_client() ? service_->server_context.get() : service_->client_context.get();
    if (auto started = end.start_tls(ctx, sni, check_host); !started) {
        fail(started.error().message, CloseMode::abortive);
        return;
    }
    set_phase(Phase::handshaking);
    tls_started_ms_ = now();
    // After a client-mode STARTTLS prelude the limit set at the backend connect still runs.
    if (end.is_client() || !prelude_) {
        handshake_deadline_ = tls_started_ms_ + to_ms(settings().handshake_timeout);
    }
    plaintext_deadline_ = 0;
    update_backpressure(); // the other end waits until the handshake is done
    arm_timer();
    if (!end.is_client()) {
        end.drive(); // the client speaks first: send the ClientHello
    }
}

void Session::on_transport_handshake_done(Transport& end) {
    handshake_ms_ = now() - tls_started_ms_;
    handshake_deadline_ = 0;
    tls_version_ = end.tls().version();
    tls_cipher_ = end.tls().cipher();
    if (end.is_client() && !service_->sni_children.empty()) {
        switch_to_sni_child();
    }
    service_->counters.handshakes_completed++;
    if (end.is_client()) {
        log_(config::LogLevel::info,
             "TLS connection established from {}: {} with cipher {} ({}/{} bits)", peer_,
             tls_version_, tls_cipher_, end.tls().cipher_bits(), end.tls().cipher_alg_bits());
        if (settings().tls_mode == config::TlsMode::starttls) {
            set_phase(steady_phase());
            if (filter_) {
                proto::Actions actions;
                filter_->on_tls_established(actions);
                apply(actions);
            }
        } else {
            set_phase(Phase::connecting);
            connect_backend();
        }
    } else {
        log_(config::LogLevel::info,
             "TLS connection established to {}: {} with cipher {} ({}/{} bits){}",
             connector_.name(), tls_version_, tls_cipher_, end.tls().cipher_bits(),
             end.tls().cipher_alg_bits(),
             settings().tls.verify == config::VerifyMode::peer ? ", certificate verified"
                                                               : ", certificate NOT checked");
        if (prelude_) {
            proto::Actions actions;
            prelude_->on_tls_established(actions);
            apply(actions);
        }
        if (!closing()) {
            set_phase(Phase::relaying);
            backend_ready();
        }
    }
    update_backpressure();
    arm_timer();
}

void Session::on_transport_handshake_failed(Transport& end, const std::string& reason) {
    handshake_failed(end, reason);
}

void Session::handshake_failed(Transport& end, const std::string& reason) {
    service_->counters.handshakes_failed++;
    if (end.is_client()) {
        log_client_handshake_failure(reason);
    } else {
        log_(config::LogLevel::notice, "TLS handshake failed to {}: {}", connector_.name(), reason);
        send(client_, failure_reply("TLS with the server failed"));
    }
    fail(reason == "timed out" ? "handshake timeout" : "handshake failed: " + reason,
         CloseMode::graceful);
}

void Session::log_client_handshake_failure(const std::string& reason) {
    using Verdict = log::SourceRateLimiter::Decision::Verdict;
    const std::string_view source = log::source_of(peer_);
    const auto decision = handshake_failure_limiter().check(source, steady_ms());
    if (decision.verdict == Verdict::suppress) {
        close_line_suppressed_ = true;
        return;
    }
    const std::string before =
        decision.suppressed_before == 0
            ? std::string()
            : fmt::format(" ({} earlier failed handshake(s) from {} not logged)",
                          decision.suppressed_before, source);
    const std::string after =
        decision.verdict == Verdict::log_and_mute
            ? fmt::format("; more than {} a minute from {}: the next are counted, not logged",
                          kHandshakeFailureLinesPerMinute, source)
            : std::string();
    log_(config::LogLevel::info, "TLS handshake failed from {}: {}{}{}", peer_, reason, before,
         after);
}

void Session::prelude_timed_out() {
    log_(config::LogLevel::notice,
         "STARTTLS prelude with {} timed out: no TLS within handshake_timeout ({} ms) of the "
         "connect",
         connector_.name(), to_ms(settings().handshake_timeout));
    send(client_, failure_reply("STARTTLS with the server timed out"));
    fail("STARTTLS prelude timeout", CloseMode::graceful);
}

void Session::on_transport_close_notify(Transport& end) {
    input_finished(end, Transport::Input::finished);
}

void Session::on_transport_failed(Transport&, const std::string& reason, CloseMode mode) {
    fail(reason, mode);
}

// --- Backend --------------------------------------------------------------------------------

void Session::connect_backend() {
    connector_.connect();
    arm_timer();
}

void Session::on_stream_connected(net::Stream&, int status) {
    connector_.on_stream_connected(status);
}

void Session::on_backend_connected() {
    backend_used_ = true;
    backend_.stream().set_nodelay();
    if (!connector_.exec()) {
        if (connector_.address().kind == net::Address::Kind::unix_socket) {
            // No descriptor before the connect.
            apply_socket_options(*service_, backend_.stream(), 'r', log_);
        }
        backend_local_ = backend_.stream().local_name();
        log_(config::LogLevel::info, "connected to {} (local {}){}", connector_.name(),
             backend_local_,
             connector_.failed().empty() ? "" : " after failing over from " + connector_.failed());
    }
    if (settings().proxy_header) {
        // Before any other byte, TLS included: the header is for whatever listens there.
        sockaddr_storage source{};
        sockaddr_storage destination{};
        const bool known =
            client_.stream().peer_address(source) && client_.stream().local_address(destination);
        const std::string header =
            known ? proto::proxy_v1_header(reinterpret_cast<const sockaddr*>(&source),
                                           reinterpret_cast<const sockaddr*>(&destination))
                  : proto::proxy_v1_header(nullptr, nullptr);
        if (int rc = backend_.stream().write(header.data(), header.size()); rc != 0) {
            fail(std::string("backend write failed: ") + uv_strerror(rc), CloseMode::abortive);
            return;
        }
    }
    if (settings().client && !prelude_) {
        begin_tls(backend_); // client mode, implicit TLS
    } else {
        if (prelude_) {
            // Client-mode STARTTLS: the prelude and the handshake after it share one limit,
            // from now. Bytes from the server count as activity, so without this a server
            // that is mute, stalls after its greeting or trickles bytes holds the local
            // program until idle_timeout.
            handshake_deadline_ = now() + to_ms(settings().handshake_timeout);
        }
        if (!client_.in_handshake()) {
            set_phase(steady_phase());
        }
    }
    if (!pending_to_backend_.empty()) {
        std::string pending;
        pending.swap(pending_to_backend_);
        bytes_in_ -= pending.size(); // counted once already, when it was queued
        send(backend_, pending);
        if (closing()) {
            return;
        }
    }
    if (client_.input_done()) {
        backend_.stream().shutdown();
    }
    arm_timer();
    update_backpressure();
}

void Session::backend_ready() {
    client_may_read_ = true;
    update_backpressure();
}

void Session::on_backend_unavailable(const std::string& reason) {
    service_->counters.backend_failures++;
    log_(config::LogLevel::notice, "backend {} unavailable: {}",
         connector_.exec() ? connector_.name() : connector_.failed(), reason);
    // A mail client gets its protocol's "try again later" before the close.
    send(client_, failure_reply("backend unavailable"));
    fail(reason, CloseMode::graceful);
}

void Session::on_backend_restarting() {
    backend_.reset_ends();
    set_phase(Phase::connecting);
}

void Session::on_backend_program_closed() {
    arm_timer(); // a restart may wait for its turn
    release_if_closed();
}

void Session::switch_to_sni_child() {
    const int route = tls::SniRouter::chosen(client_.tls().native());
    if (route < 0 || static_cast<size_t>(route) >= service_->sni_children.size()) {
        return;
    }
    std::shared_ptr<Service> child = service_->sni_children[static_cast<size_t>(route)];
    const char* name = SSL_get_servername(client_.tls().native(), TLSEXT_NAMETYPE_host_name);
    log_(config::LogLevel::info, "SNI \"{}\" routed to service {}",
         log::escape(name != nullptr ? name : ""), child->settings.name);
    service_->counters.active--;
    child->counters.accepted++;
    child->counters.active++;
    sni_parent_ = std::move(service_);
    service_ = std::move(child);
    log_.bind(settings());
    // The child's backends, protocol and deadlines from here on. With implicit TLS nothing
    // has reached a filter yet, so the child's filter simply replaces the parent's.
    connector_.route_to(service_);
    make_filter();
}

// exec + retry, when the program's end of the connection is gone (it exited or closed its
// stdout) while the client is still sending: instead of passing the end on to the client,
// close our end, make sure the program is gone, and start a new one. Only where the backend
// speaks plaintext: a new program cannot continue a TLS session.
bool Session::retry_backend() {
    if (!connector_.exec() || !settings().retry || backend_.has_tls() || client_.input_done() ||
        backend_.stream().shutdown_requested()) {
        return false;
    }
    connector_.restart_program();
    set_phase(Phase::connecting);
    return true;
}

// --- Stream events --------------------------------------------------------------------------

void Session::on_stream_read(net::Stream& stream, const char* data, size_t size) {
    if (closing()) {
        return;
    }
    last_activity_ms_ = now();
    end_of(stream).receive(data, size);
}

void Session::on_stream_drained(net::Stream&) {
    update_backpressure();
}

} // namespace tlsgate::proxy
