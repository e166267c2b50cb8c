#include "tlsgate/proxy/worker.hpp"

#include "tlsgate/core/systemd.hpp"
#include "tlsgate/log/log.hpp"
#include "tlsgate/net/port_probe.hpp"
#include "tlsgate/net/sockaddr.hpp"
#include "tlsgate/proxy/session.hpp"

#include <algorithm>
#include <unistd.h>

namespace tlsgate::proxy {

namespace {

// Whether socket activation handed over a listening socket for `address`.
bool inherited_from_systemd(const net::Address& address) {
    int fd = -1;
    if (address.kind == net::Address::Kind::unix_socket) {
        fd = core::systemd::inherited_unix_listener(address.path);
    } else if (auto numeric = net::numeric_socket_address(address)) {
        fd = core::systemd::inherited_tcp_listener(numeric->get());
    }
    if (fd < 0) {
        return false;
    }
    ::close(fd); // only asked: the listener takes its own copy when it opens
    return true;
}

} // namespace

Worker::Worker(unsigned index, const config::Global& global,
               const std::vector<std::shared_ptr<Service>>& services,
               std::atomic<uint64_t>& connection_ids)
    : index_(index), global_(global), services_(services), connection_ids_(connection_ids) {
    // None of these can fail on a fresh loop (uv_loop_init only without memory or
    // descriptors, which start-up would not survive anyway).
    uv_loop_init(&loop_);
    (void)wake_.open(
        [this](uv_async_t* handle) { return uv_async_init(&loop_, handle, on_async); });
    (void)drain_timer_.open([this](uv_timer_t* handle) { return uv_timer_init(&loop_, handle); });
}

Worker::~Worker() {
    join();
    // Close whatever is still open (a worker that never ran) and let the callbacks run.
    for (auto& slot : listeners_) {
        slot->listener->close();
    }
    wake_.close();
    drain_timer_.close();
    uv_run(&loop_, UV_RUN_DEFAULT);
    listeners_.clear();
    retired_.clear();
    uv_loop_close(&loop_);
}

Result<> Worker::open_listeners(std::vector<net::Address>& bound) {
    return apply_services(services_, bound);
}

// An unchanged listener: the same configured address (or the address it is bound to, so
// "127.0.0.1:0" rewritten as the port it got still matches), preferably under the same service
// name. Port 0 ("any port") matches only under the same name, so a removed port-0 service's
// socket is never handed to an unrelated new one.
std::unique_ptr<Worker::ListenerSlot> Worker::take_matching_slot(const config::Service& settings) {
    auto same_address = [&](const std::unique_ptr<ListenerSlot>& slot) {
        return slot && (slot->service->settings.listen == settings.listen ||
                        slot->listener->bound_address() == settings.listen);
    };
    auto found = std::find_if(listeners_.begin(), listeners_.end(), [&](const auto& slot) {
        return same_address(slot) && slot->service->settings.name == settings.name;
    });
    const bool concrete =
        settings.listen.kind == net::Address::Kind::unix_socket || settings.listen.port != 0;
    if (found == listeners_.end() && concrete) {
        found = std::find_if(listeners_.begin(), listeners_.end(), same_address);
    }
    if (found == listeners_.end()) {
        return nullptr;
    }
    return std::move(*found); // leaves a null in listeners_, dropped at commit
}

Result<> Worker::apply_services(const std::vector<std::shared_ptr<Service>>& services,
                                std::vector<net::Address>& bound) {
    sweep_retired();
    const bool first = bound.empty();
    // Plan and open first, commit after: when a new listener cannot be opened, the old
    // listeners and services stay exactly as they were.
    struct Planned {
        std::shared_ptr<Service> service;
        std::unique_ptr<ListenerSlot> kept;  // an existing slot, still serving the old service
        std::unique_ptr<ListenerSlot> fresh; // a new listener, not yet announced
    };
    std::vector<Planned> plan;
    std::vector<net::Address> bound_here;
    std::string error;
    for (size_t i = 0; i < services.size() && error.empty(); ++i) {
        const auto& service = services[i];
        if (!service->listens()) {
            // inetd and SNI-routed services have no listener; keep `bound` indexed by service.
            if (first) {
                bound_here.push_back(service->settings.listen);
            }
            continue;
        }
        const net::Address address = first ? service->settings.listen : bound.at(i);
        const bool is_unix = address.kind == net::Address::Kind::unix_socket;
        if (is_unix && !first) {
            continue; // one unix listener per path, owned by worker 0
        }
        Planned step{service, take_matching_slot(service->settings), nullptr};
        if (step.kept) {
            if (first) {
                bound_here.push_back(step.kept->listener->bound_address());
            }
            plan.push_back(std::move(step));
            continue;
        }
        step.fresh = std::make_unique<ListenerSlot>();
        step.fresh->service = service;
        ListenerSlot* slot = step.fresh.get();
        step.fresh->listener =
            std::make_unique<net::Listener>(&loop_, address, [this, slot](net::Listener& accepted) {
                accept_on(slot->service, accepted);
            });
        step.fresh->listener->set_socket_options(service->options_for('a'));
        // The first worker binds an address tlsgate does not hold yet: it must be free, since
        // SO_REUSEPORT would let tlsgate share it with another process (the other workers
        // then join tlsgate's own socket).
        // A socket systemd handed over (socket activation) is tlsgate's own: not probed.
        auto free_address = first && !inherited_from_systemd(address)
                                ? net::refuse_if_listened_on(address)
                                : Result<>{};
        if (!free_address) {
            error =
                fmt::format("service {}: {}", service->settings.name, free_address.error().message);
        } else if (auto opened = step.fresh->listener->open(true); !opened) {
            error = fmt::format("service {}: {}", service->settings.name, opened.error().message);
        } else if (first) {
            bound_here.push_back(step.fresh->listener->bound_address());
        }
        plan.push_back(std::move(step));
    }
    if (!error.empty()) {
        for (auto& step : plan) {
            if (step.kept) {
                // Back where it was: take_matching_slot left a null in its place.
                *std::find(listeners_.begin(), listeners_.end(), nullptr) = std::move(step.kept);
            } else if (step.fresh) {
                retire(std::move(step.fresh));
            }
        }
        return Error{error};
    }
    // Commit: listeners of services that are gone close now; their sessions go on.
    for (auto& slot : listeners_) {
        if (slot) {
            if (first) {
                log::info("service={} stops listening on {}", slot->service->settings.name,
                          slot->listener->bound_address().to_string());
            }
            retire(std::move(slot));
        }
    }
    listeners_.clear();
    for (auto& step : plan) {
        auto slot = step.kept ? std::move(step.kept) : std::move(step.fresh);
        if (first) {
            log::info("service={} listening on {}{}", step.service->settings.name,
                      slot->listener->bound_address().to_string(),
                      slot->service == step.service ? "" : " (socket kept)");
        }
        slot->service = step.service;
        listeners_.push_back(std::move(slot));
    }
    services_ = services;
    if (first) {
        bound = std::move(bound_here);
    }
    return {};
}

void Worker::retire(std::unique_ptr<ListenerSlot> slot) {
    slot->service.reset(); // its TLS context may go as soon as its last session ends
    ListenerSlot* raw = slot.get();
    retired_.push_back(std::move(slot));
    // The slot (and its listener) is freed only after libuv has released the handle, and not
    // inside the listener's own callback: the next reload sweeps it.
    raw->listener->close();
}

void Worker::sweep_retired() {
    std::erase_if(retired_, [](const auto& slot) { return slot->listener->released(); });
}

void Worker::post_update(std::shared_ptr<ServiceUpdate> update) {
    {
        std::lock_guard<std::mutex> lock(update_mutex_);
        pending_update_ = std::move(update);
    }
    uv_async_send(wake_.get());
}

void Worker::request_connection_list() {
    list_requested_ = true;
    uv_async_send(wake_.get());
}

void Worker::apply_pending_update() {
    std::shared_ptr<ServiceUpdate> update;
    {
        std::lock_guard<std::mutex> lock(update_mutex_);
        update = std::move(pending_update_);
    }
    if (!update) {
        return;
    }
    if (draining_) {
        update->done.set_value(Error{"shutting down"});
        return;
    }
    update->done.set_value(apply_services(update->services, update->bound));
}

void Worker::list_connections() {
    log::notice("worker {}: {} open connection(s)", index_, session_count_);
    for (Session* session = sessions_; session != nullptr; session = session->next) {
        log::notice("{}", session->describe());
    }
}

void Worker::accept_on(const std::shared_ptr<Service>& service, net::Listener& listener) {
    if (draining_) {
        return;
    }
    // The session owns itself from here: it is freed after its last handle has closed.
    auto* session = new Session(*this, service, listener.kind());
    session->start(listener.raw());
}

void Worker::start(std::function<void()> on_exit) {
    thread_ = std::thread([this, on_exit = std::move(on_exit)] {
        uv_run(&loop_, UV_RUN_DEFAULT);
        on_exit();
    });
}

void Worker::join() {
    if (thread_.joinable()) {
        thread_.join();
    }
}

void Worker::request_drain() {
    drain_requested_ = true;
    uv_async_send(wake_.get());
}

void Worker::on_async(uv_async_t* handle) {
    auto* self = static_cast<Worker*>(handle->data);
    self->apply_pending_update();
    if (self->list_requested_.exchange(false)) {
        self->list_connections();
    }
    if (self->drain_requested_ && !self->draining_) {
        self->begin_drain();
    } else if (self->drain_requested_ && self->draining_) {
        // A second request while draining: end every session now.
        for (Session* session = self->sessions_; session != nullptr;) {
            Session* following = session->next;
            session->abort("shutdown");
            session = following;
        }
    }
}

void Worker::begin_drain() {
    draining_ = true;
    for (auto& slot : listeners_) {
        slot->listener->close();
    }
    if (session_count_ > 0) {
        log::info("worker {}: draining {} connection(s), deadline {} ms", index_, session_count_,
                  global_.drain_timeout.count());
        uv_timer_start(drain_timer_.get(), on_drain_timer,
                       static_cast<uint64_t>(global_.drain_timeout.count()), 0);
        // Mail sessions between commands are told goodbye and closed now; the others (a
        // command running, a message being sent) get until the deadline.
        for (Session* session = sessions_; session != nullptr;) {
            Session* following = session->next;
            session->end_if_idle();
            session = following;
        }
    }
    maybe_stop();
}

void Worker::on_drain_timer(uv_timer_t* handle) {
    auto* self = static_cast<Worker*>(handle->data);
    for (Session* session = self->sessions_; session != nullptr;) {
        Session* following = session->next;
        session->abort("drain deadline");
        session = following;
    }
}

void Worker::maybe_stop() {
    if (!(draining_ || exit_when_idle_) || stopping_ || session_count_ > 0) {
        return;
    }
    stopping_ = true;
    wake_.close();
    drain_timer_.close();
}

void Worker::session_started(Session* session) {
    session->next = sessions_;
    if (sessions_ != nullptr) {
        sessions_->prev = session;
    }
    sessions_ = session;
    ++session_count_;
}

void Worker::session_finished(Session* session) {
    if (session->prev != nullptr) {
        session->prev->next = session->next;
    } else {
        sessions_ = session->next;
    }
    if (session->next != nullptr) {
        session->next->prev = session->prev;
    }
    --session_count_;
    maybe_stop();
}

} // namespace tlsgate::proxy
