#include "tlsgate/proxy/backend_connector.hpp"

#include "tlsgate/net/sockaddr.hpp"

#include <csignal>
#include <cstring>
#include <netdb.h>

namespace tlsgate::proxy {

// A name lookup that may outlive its connector: the connector detaches itself when it no
// longer wants the answer, and the lookup frees itself when libuv reports back.
struct PendingResolve {
    uv_getaddrinfo_t request{};
    BackendConnector* connector = nullptr;

    static void on_resolved(uv_getaddrinfo_t* request, int status, addrinfo* result) {
        auto* self = static_cast<PendingResolve*>(request->data);
        BackendConnector* connector = self->connector;
        if (connector != nullptr) {
            connector->resolve_ = nullptr;
            if (status != 0 || result == nullptr) {
                connector->attempt_failed(std::string("backend name lookup failed: ") +
                                          uv_strerror(status));
            } else {
                connector->connect_to(result->ai_addr);
            }
        }
        uv_freeaddrinfo(result);
        delete self;
    }
};

void apply_socket_options(const Service& service, net::Stream& stream, char side,
                          const ConnLog& log) {
    const int fd = stream.fd();
    for (const auto& option : service.socket_options) {
        if (option.side != side || fd < 0) {
            continue;
        }
        if (int error = net::apply_socket_option(fd, option.option); error != 0) {
            log(config::LogLevel::warning, "cannot set {}:{}: {}", side, option.option.spec->name,
                std::strerror(error));
        }
    }
}

BackendConnector::BackendConnector(uv_loop_t* loop, std::shared_ptr<Service> service,
                                   std::vector<size_t> order, net::Stream& stream,
                                   const ConnLog& log, BackendConnectorHandler& handler)
    : loop_(loop), service_(std::move(service)), stream_(stream), log_(log), handler_(handler),
      program_(loop, log, *this), order_(std::move(order)), index_(order_.empty() ? 0 : order_[0]) {
}

BackendConnector::~BackendConnector() {
    cancel_resolve();
}

net::Address::Kind BackendConnector::first_kind(const Service& service,
                                                const std::vector<size_t>& order) {
    // An exec backend is one end of a socketpair: a unix socket.
    return order.empty() ? net::Address::Kind::unix_socket
                         : service.settings.backends[order[0]].kind;
}

std::vector<size_t> BackendConnector::plan(Service& service) {
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

std::string BackendConnector::name() const {
    if (exec()) {
        return "exec:" + *settings().exec;
    }
    return order_.empty() ? "none" : address().to_string();
}

net::Address::Kind BackendConnector::wanted_kind() const {
    return exec() || order_.empty() ? net::Address::Kind::unix_socket : address().kind;
}

void BackendConnector::note_failed() {
    if (!failed_.empty()) {
        failed_ += ',';
    }
    failed_ += name();
}

void BackendConnector::connect() {
    if (remaking_) {
        after_remake_ = AfterRemake::connect; // the handle is being made again
        return;
    }
    connect_deadline_ = now() + static_cast<uint64_t>(settings().connect_timeout.count());
    if (exec()) {
        spawn();
        return;
    }
    const net::Address& backend = address();
    if (backend.kind == net::Address::Kind::unix_socket) {
        if (int rc = stream_.connect_unix(backend.path); rc != 0) {
            attempt_failed(std::string("backend connect failed: ") + uv_strerror(rc));
        }
        return;
    }
    if (index_ < service_->resolved_backends.size() && service_->resolved_backends[index_]) {
        // resolve_at_start: looked up once when the service was prepared.
        connect_to(service_->resolved_backends[index_]->get());
        return;
    }
    if (auto numeric = net::numeric_socket_address(backend)) {
        connect_to(numeric->get());
        return;
    }
    auto* resolve = new PendingResolve;
    resolve->connector = this;
    resolve->request.data = resolve;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    const std::string port = std::to_string(backend.port);
    if (int rc = uv_getaddrinfo(loop_, &resolve->request, PendingResolve::on_resolved,
                                backend.host.c_str(), port.c_str(), &hints);
        rc != 0) {
        delete resolve;
        attempt_failed(std::string("backend name lookup failed: ") + uv_strerror(rc));
        return;
    }
    resolve_ = resolve;
}

void BackendConnector::connect_to(const sockaddr* address) {
    // The socket is made before the connect so that 'r:' options and the "local" source
    // address apply to the SYN already.
    if (int rc = stream_.open_socket(address->sa_family); rc != 0) {
        attempt_failed(std::string("backend socket failed: ") + uv_strerror(rc));
        return;
    }
    apply_socket_options(*service_, stream_, 'r', log_);
    if (service_->local) {
        const sockaddr* local = service_->local->get();
        if (local->sa_family != address->sa_family) {
            attempt_failed("local address " + *settings().local +
                           " is not of the backend's address family");
            return;
        }
        if (int rc = stream_.bind(local); rc != 0) {
            attempt_failed("cannot bind local address " + *settings().local + ": " +
                           uv_strerror(rc));
            return;
        }
    }
    if (int rc = stream_.connect(address); rc != 0) {
        attempt_failed(std::string("backend connect failed: ") + uv_strerror(rc));
    }
}

void BackendConnector::spawn() {
    if (auto started = program_.spawn(settings(), stream_, now()); !started) {
        attempt_failed(started.error().message);
        return;
    }
    connect_deadline_ = 0;
    connected_ = true;
    handler_.on_backend_connected();
}

void BackendConnector::on_stream_connected(int status) {
    if (stopped_) {
        return;
    }
    connect_deadline_ = 0;
    if (status != 0) {
        attempt_failed(std::string("backend connect failed: ") + uv_strerror(status));
        return;
    }
    connected_ = true;
    handler_.on_backend_connected();
}

void BackendConnector::cancel_resolve() {
    if (resolve_ != nullptr) {
        // A lookup still running for this attempt: it must not report back.
        resolve_->connector = nullptr;
        uv_cancel(reinterpret_cast<uv_req_t*>(&resolve_->request));
        resolve_ = nullptr;
    }
}

void BackendConnector::attempt_failed(const std::string& reason) {
    if (stopped_) {
        return;
    }
    connect_deadline_ = 0;
    cancel_resolve();
    const bool more = attempt_ + 1 < order_.size();
    if (!more) {
        if (!exec()) {
            note_failed();
        }
        handler_.on_backend_unavailable(reason);
        return;
    }
    log_(config::LogLevel::notice, "backend {} failed: {}; trying {}", name(), reason,
         settings().backends[order_[attempt_ + 1]].to_string());
    note_failed();
    ++attempt_;
    index_ = order_[attempt_];
    // The next attempt needs a fresh handle: on_stream_closed makes it and connects.
    remake_stream(AfterRemake::connect);
}

void BackendConnector::remake_stream(AfterRemake then) {
    remaking_ = true;
    after_remake_ = then;
    stream_.close();
}

bool BackendConnector::on_stream_closed() {
    if (!remaking_) {
        return false;
    }
    remaking_ = false;
    if (stopped_) {
        return false; // the session's close: the stream stays closed
    }
    // Failover, SNI route or exec retry: the same object, a fresh handle.
    stream_.reinit(wanted_kind());
    if (restart_pending_) {
        maybe_restart();
    } else if (after_remake_ == AfterRemake::connect) {
        after_remake_ = AfterRemake::nothing;
        connect();
    }
    return true;
}

void BackendConnector::restart_program() {
    connected_ = false;
    restart_pending_ = true;
    remake_stream(after_remake_);
    program_.kill(SIGTERM); // it may have closed its stdout and still run
}

// exec + retry: once both the old stream and the old process are gone, a new program
// starts; what the client sends meanwhile waits in the session.
void BackendConnector::maybe_restart() {
    if (!restart_pending_ || remaking_ || stopped_ || program_.active()) {
        return;
    }
    const uint64_t at = program_.next_start_at();
    if (now() < at) {
        respawn_deadline_ = at;
        return;
    }
    respawn_deadline_ = 0;
    restart_pending_ = false;
    handler_.on_backend_restarting();
    log_(config::LogLevel::info, "{} ended; retry: starting it again", *settings().exec);
    connect();
}

void BackendConnector::restart_due() {
    respawn_deadline_ = 0;
    maybe_restart();
}

void BackendConnector::on_exec_closed() {
    if (!stopped_) {
        maybe_restart();
    }
    handler_.on_backend_program_closed();
}

void BackendConnector::stop() {
    stopped_ = true;
}

void BackendConnector::route_to(std::shared_ptr<Service> service) {
    service_ = std::move(service);
    order_ = plan(*service_);
    attempt_ = 0;
    index_ = order_.empty() ? 0 : order_[0];
    if (wanted_kind() != stream_.kind()) {
        // Never connected: the handle is closed and made again of the right kind first.
        remake_stream(AfterRemake::nothing);
    }
}

} // namespace tlsgate::proxy
