#include "tlsgate/proxy/session.hpp"

#include "tlsgate/log/log.hpp"
#include "tlsgate/net/sockaddr.hpp"
#include "tlsgate/proto/proxy_header.hpp"
#include "tlsgate/proxy/worker.hpp"
#include "tlsgate/tls/sni_router.hpp"

#include <algorithm>
#include <csignal>
#include <cstring>
#include <netdb.h>

namespace tlsgate::proxy {

namespace {

// exec + retry: a program that keeps exiting is started at most once a second (stunnel
// waits the same between retries).
constexpr uint64_t kRespawnIntervalMs = 1000;
// After SIGTERM, how long an exec'd program that ignores it may take before SIGKILL, when the
// close_timeout is shorter still.
constexpr uint64_t kMinKillGraceMs = 1000;
// The longest a close may linger when the session is aborted (drain deadline, shutdown).
constexpr uint64_t kAbortLingerMs = 2000;

// A TLS engine's outgoing ciphertext as something a stream writes from.
class CiphertextSource final : public net::WriteSource {
public:
    explicit CiphertextSource(tls::TlsEngine& engine) : engine_(engine) {}
    size_t gather(core::ByteSpan* spans, size_t max) const override {
        return engine_.gather_ciphertext(spans, max);
    }
    void consume(size_t size) override { engine_.consume_ciphertext(size); }
    size_t take(char* out, size_t capacity) override {
        return engine_.take_ciphertext(out, capacity);
    }

private:
    tls::TlsEngine& engine_;
};

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
                session->backend_attempt_failed("backend name lookup failed: " +
                                                describe_uv_error(status));
            } else {
                session->connect_backend_to(result->ai_addr);
            }
        }
        uv_freeaddrinfo(result);
        delete self;
    }
};

namespace {

// The order in which this connection tries the backends: prio always starts with the first,
// rr with the next one in turn (shared by every worker), and both fall over to the rest.
std::vector<size_t> plan_backends(Service& service) {
    const size_t count = service.settings.backends.size();
    std::vector<size_t> order;
    if (count == 0) {
        return order;
    }
    const size_t first = service.settings.failover == config::Failover::rr
                             ? service.next_backend.fetch_add(1, std::memory_order_relaxed) % count
                             : 0;
    for (size_t i = 0; i < count; ++i) {
        order.push_back((first + i) % count);
    }
    return order;
}

config::LogLevel session_log_level(const config::Service& settings) {
    if (settings.log_level) {
        return *settings.log_level;
    }
    // No override: whatever the global level lets through.
    for (auto level : {config::LogLevel::debug, config::LogLevel::info, config::LogLevel::notice,
                       config::LogLevel::warning}) {
        if (log::enabled(level)) {
            return level;
        }
    }
    return config::LogLevel::error;
}

} // namespace

Session::Session(Worker& worker, std::shared_ptr<Service> service, net::Address::Kind client_kind)
    : Session(worker, service, client_kind, plan_backends(*service)) {}

Session::Session(Worker& worker, std::shared_ptr<Service> service, net::Address::Kind client_kind,
                 std::vector<size_t> backend_order)
    : worker_(worker), service_(std::move(service)), id_(worker.next_connection_id()),
      log_threshold_(session_log_level(service_->settings)),
      client_(worker.loop(), client_kind, *this, worker.read_buffer(), kClient),
      // An exec backend is one end of a socketpair: a unix socket.
      backend_(worker.loop(),
               backend_order.empty() ? net::Address::Kind::unix_socket
                                     : service_->settings.backends[backend_order[0]].kind,
               *this, worker.read_buffer(), kBackend),
      timer_(worker.loop(), *this), child_(worker.loop(), *this),
      backend_order_(std::move(backend_order)) {
    worker_.session_started(this);
    service_->counters.accepted++;
    service_->counters.active++;
    if (!backend_order_.empty()) {
        backend_index_ = backend_order_[0];
    }
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
    begin();
}

void Session::start_fd(int fd) {
    started_ms_ = last_activity_ms_ = now();
    if (int rc = client_.stream.open_fd(fd); rc != 0) {
        ::close(fd);
        fail("cannot use the inetd connection: " + describe_uv_error(rc), true);
        return;
    }
    begin();
}

void Session::start_fds(int read_fd, int write_fd) {
    started_ms_ = last_activity_ms_ = now();
    if (int rc = client_.stream.open_fds(read_fd, write_fd); rc != 0) {
        fail("cannot use the inetd pipes: " + describe_uv_error(rc), true);
        return;
    }
    begin();
}

void Session::apply_socket_options(End& end, char side) {
    const int fd = end.stream.fd();
    for (const auto& option : service_->socket_options) {
        if (option.side != side || fd < 0) {
            continue;
        }
        if (int error = net::apply_socket_option(fd, option.option); error != 0) {
            log(config::LogLevel::warning, "conn={} service={} cannot set {}:{}: {}", id_,
                settings().name, side, option.option.spec->name, std::strerror(error));
        }
    }
}

void Session::make_filter() {
    filter_.reset();
    if (settings().protocol == config::Protocol::raw) {
        return;
    }
    proto::FilterSettings filter_settings;
    filter_settings.protocol = settings().protocol;
    filter_settings.tls_active_from_start = settings().tls_mode == config::TlsMode::implicit;
    filter_settings.starttls_policy = settings().starttls_policy;
    filter_settings.auth_requires_tls = settings().auth_requires_tls;
    filter_settings.max_line = settings().max_line;
    filter_settings.max_errors = settings().max_errors;
    filter_settings.allow_xclient = settings().allow_xclient;
    filter_settings.early_talker = settings().early_talker;
    filter_ = proto::make_server_filter(filter_settings);
}

void Session::begin() {
    peer_ = client_.stream.peer_name();
    client_.stream.set_nodelay();
    apply_socket_options(client_, 'l');
    log(config::LogLevel::debug, "conn={} service={} accepted connection from {}", id_,
        settings().name, peer_);
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
    if (closing_) {
        return;
    }
    arm_timer();
    update_backpressure();
}

void Session::abort(const std::string& reason) {
    // Ending now (drain deadline, second SIGTERM): a peer that does not read gets at most
    // kAbortLingerMs, not the whole close_timeout, so shutdown stays prompt.
    aborting_ = true;
    if (closing_) {
        // Already closing gracefully (waiting for queued bytes or the peer's FIN): end the
        // linger now; the timer's closing branch closes what is left.
        if (!timer_.closing()) {
            timer_.start(0);
        }
        return;
    }
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
        // An exec'd program has no name: only configured sni/check_host apply to it.
        const net::Address none;
        const net::Address& backend = exec_backend() ? none : backend_address();
        const std::string host = backend.kind == net::Address::Kind::tcp ? backend.host : "";
        // SNI carries host names only, never an IP literal (RFC 6066).
        std::string sni = tls.sni.value_or(backend.host_is_ip ? "" : host);
        // A configured check_host always applies; the backend's name is the default only
        // when the certificate is verified. check_ip/check_email (the context) apply as well.
        std::string check_host;
        if (tls.check_host) {
            check_host = *tls.check_host;
        } else if (tls.verify == config::VerifyMode::peer) {
            check_host = host;
        }
        end.tls->set_peer_name(sni, check_host);
    }
    tls_started_ms_ = now();
    // After a client-mode STARTTLS prelude the limit set at the backend connect still runs.
    if (server_role || !prelude_) {
        handshake_deadline_ = tls_started_ms_ + to_ms(settings().handshake_timeout);
    }
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
    if (is_client(end) && !service_->sni_children.empty()) {
        switch_to_sni_child();
    }
    service_->counters.handshakes_completed++;
    if (is_client(end)) {
        log(config::LogLevel::info,
            "conn={} service={} TLS connection established from {}: {} with cipher {} "
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
        log(config::LogLevel::info,
            "conn={} service={} TLS connection established to {}: {} with cipher {} "
            "({}/{} bits){}",
            id_, settings().name, backend_name(), tls_version_, tls_cipher_, end.tls->cipher_bits(),
            end.tls->cipher_alg_bits(),
            settings().tls.verify == config::VerifyMode::peer ? ", certificate verified"
                                                              : ", certificate NOT checked");
        if (prelude_) {
            proto::Actions actions;
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
        log(config::LogLevel::info, "conn={} service={} TLS handshake failed from {}: {}", id_,
            settings().name, peer_, reason);
    } else {
        log(config::LogLevel::notice, "conn={} service={} TLS handshake failed to {}: {}", id_,
            settings().name, backend_name(), reason);
        const std::string reply = failure_reply("TLS with the server failed");
        send(client_, reply.data(), reply.size());
    }
    fail(reason == "timed out" ? "handshake timeout" : "handshake failed: " + reason, false);
}

void Session::prelude_timed_out() {
    log(config::LogLevel::notice,
        "conn={} service={} STARTTLS prelude with {} timed out: no TLS within handshake_timeout "
        "({} ms) of the connect",
        id_, settings().name, backend_name(), to_ms(settings().handshake_timeout));
    const std::string reply = failure_reply("STARTTLS with the server timed out");
    send(client_, reply.data(), reply.size());
    fail("STARTTLS prelude timeout", false);
}

bool Session::flush_ciphertext(End& end) {
    const size_t pending = end.tls ? end.tls->pending_ciphertext() : 0;
    if (pending == 0) {
        return true;
    }
    if (end.stream.closing() || end.stream.shutdown_requested()) {
        return false;
    }
    CiphertextSource source(*end.tls);
    if (int rc = end.stream.write_from(source, pending); rc != 0) {
        fail(std::string(is_client(end) ? "client" : "backend") +
                 " write failed: " + describe_uv_error(rc),
             true);
        return false;
    }
    return true;
}

// --- Backend --------------------------------------------------------------------------------

void Session::note_failed_backend() {
    if (!failed_backends_.empty()) {
        failed_backends_ += ',';
    }
    failed_backends_ += backend_name();
}

std::string Session::backend_name() const {
    if (exec_backend()) {
        return "exec:" + *settings().exec;
    }
    return backend_order_.empty() ? "none" : backend_address().to_string();
}

net::Address::Kind Session::wanted_backend_kind() const {
    return exec_backend() || backend_order_.empty() ? net::Address::Kind::unix_socket
                                                    : backend_address().kind;
}

void Session::connect_backend() {
    if (backend_recycling_) {
        connect_when_recycled_ = true; // the handle is being made again; on_stream_closed
        return;
    }
    connect_deadline_ = now() + to_ms(settings().connect_timeout);
    arm_timer();
    if (exec_backend()) {
        spawn_backend();
        return;
    }
    const net::Address& backend = backend_address();
    if (backend.kind == net::Address::Kind::unix_socket) {
        backend_.stream.connect_unix(backend.path);
        return;
    }
    if (backend_index_ < service_->resolved_backends.size() &&
        service_->resolved_backends[backend_index_]) {
        // resolve_at_start: looked up once when the service was prepared.
        connect_backend_to(service_->resolved_backends[backend_index_]->get());
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
        backend_attempt_failed("backend name lookup failed: " + describe_uv_error(rc));
        return;
    }
    resolve_ = resolve;
}

void Session::connect_backend_to(const sockaddr* address) {
    // The socket is made before the connect so that 'r:' options and the "local" source
    // address apply to the SYN already.
    if (int rc = backend_.stream.open_socket(address->sa_family); rc != 0) {
        backend_attempt_failed("backend socket failed: " + describe_uv_error(rc));
        return;
    }
    apply_socket_options(backend_, 'r');
    if (service_->local) {
        const sockaddr* local = service_->local->get();
        if (local->sa_family != address->sa_family) {
            backend_attempt_failed("local address " + *settings().local +
                                   " is not of the backend's address family");
            return;
        }
        if (int rc = backend_.stream.bind(local); rc != 0) {
            backend_attempt_failed("cannot bind local address " + *settings().local + ": " +
                                   describe_uv_error(rc));
            return;
        }
    }
    if (int rc = backend_.stream.connect(address); rc != 0) {
        backend_attempt_failed("backend connect failed: " + describe_uv_error(rc));
    }
}

void Session::spawn_backend() {
    int our_end = -1;
    ++open_handles_; // the process handle, released in on_child_closed (even after a failure)
    last_spawn_ms_ = now();
    const int rc = child_.spawn(*settings().exec, settings().exec_args, our_end);
    if (rc != 0) {
        backend_attempt_failed("cannot start " + *settings().exec + ": " + describe_uv_error(rc));
        return;
    }
    if (int open_rc = backend_.stream.open_fd(our_end); open_rc != 0) {
        ::close(our_end);
        backend_attempt_failed("cannot use the socket to " + *settings().exec + ": " +
                               describe_uv_error(open_rc));
        return;
    }
    log(config::LogLevel::debug, "conn={} service={} started {} (pid {})", id_, settings().name,
        *settings().exec, child_.pid());
    connect_deadline_ = 0;
    on_backend_connected();
}

void Session::on_child_exit(ExecChild& child, int64_t status, int term_signal) {
    if (term_signal != 0) {
        log(config::LogLevel::info, "conn={} service={} {} (pid {}) ended by signal {}", id_,
            settings().name, *settings().exec, child.pid(), term_signal);
    } else {
        log(config::LogLevel::info, "conn={} service={} {} (pid {}) exited with status {}", id_,
            settings().name, *settings().exec, child.pid(), status);
    }
}

void Session::on_child_closed(ExecChild&) {
    if (!closing_) {
        maybe_respawn();
    }
    release_if_closed();
}

// exec + retry: the program's side of the connection ended (it exited or closed its stdout)
// while the client is still there. Once both the old stream and the old process are gone, a
// new program starts; what the client sends meanwhile waits in pending_to_backend_.
void Session::maybe_respawn() {
    if (!respawn_pending_ || backend_recycling_ || closing_ || child_.active()) {
        return;
    }
    const uint64_t at = last_spawn_ms_ + kRespawnIntervalMs;
    if (now() < at) {
        respawn_deadline_ = at;
        arm_timer();
        return;
    }
    respawn_deadline_ = 0;
    respawn_pending_ = false;
    backend_.input_done = backend_.output_done = backend_.truncated = false;
    log(config::LogLevel::info, "conn={} service={} {} ended; retry: starting it again", id_,
        settings().name, *settings().exec);
    connect_backend();
}

void Session::on_stream_connected(net::Stream&, int status) {
    if (closing_) {
        return;
    }
    connect_deadline_ = 0;
    if (status != 0) {
        backend_attempt_failed("backend connect failed: " + describe_uv_error(status));
        return;
    }
    on_backend_connected();
}

void Session::on_backend_connected() {
    backend_connected_ = true;
    backend_used_ = true;
    backend_.stream.set_nodelay();
    if (!exec_backend()) {
        if (backend_address().kind == net::Address::Kind::unix_socket) {
            apply_socket_options(backend_, 'r'); // no descriptor before the connect
        }
        backend_local_ = backend_.stream.local_name();
        log(config::LogLevel::info, "conn={} service={} connected to {} from {}{}", id_,
            settings().name, backend_name(), backend_local_,
            failed_backends_.empty() ? "" : " after failing over from " + failed_backends_);
    }
    if (settings().proxy_header) {
        // Before any other byte, TLS included: the header is for whatever listens there.
        sockaddr_storage source{};
        sockaddr_storage destination{};
        const bool known =
            client_.stream.peer_address(source) && client_.stream.local_address(destination);
        const std::string header =
            known ? proto::proxy_v1_header(reinterpret_cast<const sockaddr*>(&source),
                                           reinterpret_cast<const sockaddr*>(&destination))
                  : proto::proxy_v1_header(nullptr, nullptr);
        if (int rc = backend_.stream.write(header.data(), header.size()); rc != 0) {
            fail("backend write failed: " + describe_uv_error(rc), true);
            return;
        }
    }
    if (settings().client && !prelude_) {
        begin_tls(backend_); // client mode, implicit TLS
    } else if (prelude_) {
        // Client-mode STARTTLS: the prelude and the handshake after it share one limit, from
        // now. Bytes from the server count as activity, so without this a server that is
        // mute, stalls after its greeting or trickles bytes holds the local program until
        // idle_timeout.
        handshake_deadline_ = now() + to_ms(settings().handshake_timeout);
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

void Session::backend_attempt_failed(const std::string& reason) {
    if (closing_) {
        return;
    }
    connect_deadline_ = 0;
    if (resolve_ != nullptr) {
        // A lookup still running for this attempt (it timed out): it must not report back.
        resolve_->session = nullptr;
        uv_cancel(reinterpret_cast<uv_req_t*>(&resolve_->request));
        resolve_ = nullptr;
    }
    const bool more = attempt_ + 1 < backend_order_.size();
    if (!more) {
        backend_unavailable(reason);
        return;
    }
    log(config::LogLevel::notice, "conn={} service={} backend {} failed: {}; trying {}", id_,
        settings().name, backend_name(), reason,
        settings().backends[backend_order_[attempt_ + 1]].to_string());
    note_failed_backend();
    ++attempt_;
    backend_index_ = backend_order_[attempt_];
    // The next attempt needs a fresh handle: on_stream_closed makes it and connects.
    backend_recycling_ = true;
    connect_when_recycled_ = true;
    backend_.stream.close();
}

void Session::backend_unavailable(const std::string& reason) {
    if (closing_) {
        return;
    }
    connect_deadline_ = 0;
    service_->counters.backend_failures++;
    if (!exec_backend()) {
        note_failed_backend();
    }
    log(config::LogLevel::notice, "conn={} service={} backend {} unavailable: {}", id_,
        settings().name, exec_backend() ? backend_name() : failed_backends_, reason);
    // A mail client gets its protocol's "try again later" before the close.
    const std::string reply = failure_reply("backend unavailable");
    send(client_, reply.data(), reply.size());
    fail(reason, false);
}

void Session::switch_to_sni_child() {
    const int route = tls::SniRouter::chosen(client_.tls->native());
    if (route < 0 || static_cast<size_t>(route) >= service_->sni_children.size()) {
        return;
    }
    std::shared_ptr<Service> child = service_->sni_children[static_cast<size_t>(route)];
    const char* name = SSL_get_servername(client_.tls->native(), TLSEXT_NAMETYPE_host_name);
    log(config::LogLevel::info, "conn={} service={} SNI \"{}\" routed to service {}", id_,
        settings().name, log::escape(name != nullptr ? name : ""), child->settings.name);
    service_->counters.active--;
    child->counters.accepted++;
    child->counters.active++;
    sni_parent_ = std::move(service_);
    service_ = std::move(child);
    log_threshold_ = session_log_level(settings());
    // The child's backends, protocol and deadlines from here on. With implicit TLS nothing
    // has reached a filter yet, so the child's filter simply replaces the parent's.
    backend_order_ = plan_backends(*service_);
    attempt_ = 0;
    backend_index_ = backend_order_.empty() ? 0 : backend_order_[0];
    if (wanted_backend_kind() != backend_.stream.kind()) {
        // Never connected: the handle is closed and made again of the right kind first.
        backend_recycling_ = true;
        backend_.stream.close();
    }
    make_filter();
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
}

// Actions of the server filter (server mode) or of the client prelude (client mode): a
// session has at most one of them.
void Session::apply(proto::Actions& actions) {
    for (const auto& event : actions.log) {
        log(event.level, "conn={} service={} {}", id_, settings().name, event.message);
    }
    if (prelude_) {
        // A filter counts its discarded client bytes in FilterCounters (added at the end); a
        // prelude has no counters, so its discarded server bytes are counted here.
        service_->counters.injected_bytes_discarded += actions.discarded_bytes;
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
        // Server mode: the go-ahead is queued in plaintext before any handshake byte (the
        // stream keeps write order); client bytes after the STARTTLS line were discarded by
        // the filter. Client mode: the server gave its go-ahead.
        begin_tls(settings().client ? backend_ : client_);
    }
    if (actions.close) {
        const char* fallback_reason =
            prelude_ ? "STARTTLS with the server failed" : "closed by protocol filter";
        fail(actions.close_reason.empty() ? fallback_reason : actions.close_reason, false);
        return;
    }
    if (actions.plaintext_fallback) {
        handshake_deadline_ = 0; // no TLS: the prelude is over
        backend_ready();
    }
    update_backpressure(); // a filter may have filled up, or made room
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
    // A filter that holds all the client input it may (pipelined commands the backend has
    // not answered yet) stops the client's reads too: its memory is bounded, not the
    // client's to grow.
    const size_t to_backend = backend_.stream.pending_write_bytes() + pending_to_backend_.size();
    const bool filter_full = filtering() && !filter_->wants_client_input();
    if (!client_.input_done) {
        if (!client_may_read_ || to_backend > kHighWater || filter_full ||
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
        // `data` is the loop's read buffer: no other read can touch it during this call.
        const tls::TlsEngine::Loan loan(*from.tls, data, size);
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
        stream.close(); // the lingering close is over
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
    } else if (!is_client(from) && retry_backend()) {
        return;
    } else {
        // Every complete record was decrypted as it arrived; an end of stream without
        // close_notify is a truncation, which the close line reports.
        input_finished(from, !from.tls);
    }
}

// exec + retry, when the program's end of the connection is gone (it exited or closed its
// stdout) while the client is still sending: instead of passing the end on to the client,
// close our end, make sure the program is gone, and start a new one (maybe_respawn). Only
// where the backend speaks plaintext: a new program cannot continue a TLS session.
bool Session::retry_backend() {
    if (!exec_backend() || !settings().retry || backend_.tls || client_.input_done ||
        backend_.stream.shutdown_requested()) {
        return false;
    }
    backend_connected_ = false;
    respawn_pending_ = true;
    backend_recycling_ = true;
    backend_.stream.close();
    child_.kill(SIGTERM); // it may have closed its stdout and still run
    return true;
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

void Session::on_stream_shutdown(net::Stream& stream, int status) {
    if (closing_) {
        // Our FIN is out. With unread input, discard what the peer still sends until its FIN
        // (on_stream_eof) or the close timer; else nothing can turn the close into a RST.
        if (status != 0 || !stream.has_unread_input()) {
            stream.close();
        } else {
            stream.start_reading();
        }
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
        stream.close();
        return;
    }
    End& from = end_of(stream);
    if (from.in_handshake()) {
        service_->counters.handshakes_failed++;
    }
    if (!is_client(from) && retry_backend()) {
        return;
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
    for (uint64_t candidate :
         {handshake_deadline_, connect_deadline_, plaintext_deadline_, respawn_deadline_}) {
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
        // The linger after a graceful close ran out: stop waiting for the peer to read, and
        // for an exec'd program that ignored SIGTERM. The timer is closed once the program
        // is gone (release_if_closed).
        client_.stream.close();
        backend_.stream.close();
        if (child_.running()) {
            log(config::LogLevel::notice, "conn={} service={} {} (pid {}) ignored SIGTERM: SIGKILL",
                id_, settings().name, *settings().exec, child_.pid());
            child_.kill(SIGKILL);
        } else {
            timer_.close();
        }
        return;
    }
    if (respawn_deadline_ != 0 && current >= respawn_deadline_) {
        respawn_deadline_ = 0;
        maybe_respawn();
        arm_timer();
        return;
    }
    if (handshake_deadline_ != 0 && current >= handshake_deadline_) {
        if (in_prelude() && !backend_.tls) {
            prelude_timed_out();
            return;
        }
        handshake_failed(client_.in_handshake() ? client_ : backend_, "timed out");
        return;
    }
    if (connect_deadline_ != 0 && current >= connect_deadline_) {
        backend_attempt_failed("backend connect timeout");
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
    // An exec'd program goes with its connection; the timer stays to SIGKILL it if it
    // lingers, and to reap it (the process handle is closed only after its exit).
    child_.kill(SIGTERM);
    const uint64_t linger = aborting_ ? std::min(to_ms(settings().close_timeout), kAbortLingerMs)
                                      : to_ms(settings().close_timeout);
    if (abortive) {
        // RST toward the client unless "reset" = false asks for an ordinary FIN.
        client_.stream.close(settings().reset);
        backend_.stream.close(true);
        if (child_.running()) {
            timer_.start(std::max(linger, kMinKillGraceMs));
        } else {
            timer_.close();
        }
        return;
    }
    // Graceful: say close_notify where TLS is up, and let queued bytes leave before the
    // sockets close (bounded by close_timeout).
    bool waiting = false;
    for (End* end : {&client_, &backend_}) {
        if (end->stream.closing()) {
            continue;
        }
        if (end->tls_up() && !end->tls->shutdown_sent()) {
            end->tls->shutdown();
            const size_t pending = end->tls->pending_ciphertext();
            if (pending > 0 && !end->stream.shutdown_requested()) {
                CiphertextSource source(*end->tls);
                end->stream.write_from(source, pending);
            }
        }
        // Queued bytes leave before the socket closes. And a lingering close, as web servers
        // do, where the peer sent bytes nobody read: FIN first, then read and discard until
        // its FIN, because closing with unread input sends a RST, and a RST can destroy our
        // last reply (a refusal, a 421) before the peer has read it.
        if (end->stream.pending_write_bytes() == 0 && !end->stream.has_unread_input()) {
            end->stream.close();
        } else if (end->stream.shutdown_requested()) {
            if (end->output_done) {
                end->stream.start_reading(); // our FIN went out earlier (half-close)
            }                                // else the pending shutdown's callback decides
            waiting = true;
        } else if (end->stream.shutdown() == 0) {
            waiting = true;
        } else {
            end->stream.close();
        }
    }
    if (child_.running()) {
        timer_.start(std::max(linger, kMinKillGraceMs));
    } else if (waiting) {
        timer_.start(linger);
    } else {
        timer_.close();
    }
}

void Session::on_stream_closed(net::Stream& stream) {
    if (stream.tag() == kBackend && backend_recycling_) {
        backend_recycling_ = false;
        if (!closing_) {
            // Failover, SNI switch or exec retry: the same object, a fresh handle.
            backend_.stream.reinit(wanted_backend_kind());
            if (respawn_pending_) {
                maybe_respawn();
            } else if (connect_when_recycled_) {
                connect_when_recycled_ = false;
                connect_backend();
            }
            return;
        }
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
    if (--open_handles_ > 0) {
        if (client_.stream.closing() && backend_.stream.closing() && !child_.active() &&
            !timer_.closing()) {
            timer_.close();
        }
        return;
    }
    add_filter_counters();
    // stunnel's "accepted connection from", "connected remote server from", byte counts and
    // how it ended, on one line. in/out are plaintext bytes (client->backend, backend->client).
    log(config::LogLevel::info,
        "conn={} service={} close peer={} backend={} backend_local={} failed={} tls={} "
        "cipher={} handshake_ms={} in={} out={} duration_ms={} close={} reason={}",
        id_, settings().name, peer_.empty() ? "unknown" : peer_,
        backend_used_ ? backend_name() : "none", backend_local_.empty() ? "none" : backend_local_,
        failed_backends_.empty() ? "none" : failed_backends_, tls_version_, tls_cipher_,
        handshake_ms_, bytes_in_, bytes_out_, now() - started_ms_,
        client_.stream.reset_sent() ? "rst" : "fin", close_reason_);
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
