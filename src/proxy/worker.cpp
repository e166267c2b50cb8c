#include "tlsgate/proxy/worker.hpp"

#include "tlsgate/log/log.hpp"
#include "tlsgate/proxy/session.hpp"

namespace tlsgate::proxy {

Worker::Worker(unsigned index, const config::Global& global,
               const std::vector<std::shared_ptr<Service>>& services,
               std::atomic<uint64_t>& connection_ids)
    : index_(index), global_(global), services_(services), connection_ids_(connection_ids) {
    uv_loop_init(&loop_);
    uv_async_init(&loop_, &wake_, on_async);
    wake_.data = this;
    uv_timer_init(&loop_, &drain_timer_);
    drain_timer_.data = this;
}

Worker::~Worker() {
    join();
    // Close whatever is still open (a worker that never ran) and let the callbacks run.
    for (auto& slot : listeners_) {
        slot.listener->close();
    }
    auto close_if_open = [](uv_handle_t* handle) {
        if (!uv_is_closing(handle)) {
            uv_close(handle, nullptr);
        }
    };
    close_if_open(reinterpret_cast<uv_handle_t*>(&wake_));
    close_if_open(reinterpret_cast<uv_handle_t*>(&drain_timer_));
    uv_run(&loop_, UV_RUN_DEFAULT);
    listeners_.clear();
    uv_loop_close(&loop_);
}

std::string Worker::open_listeners(std::vector<net::Address>& bound) {
    const bool first = bound.empty();
    for (size_t i = 0; i < services_.size(); ++i) {
        const auto& service = services_[i];
        if (!service->listens()) {
            // inetd and SNI-routed services have no listener; keep `bound` indexed by service.
            if (first) {
                bound.push_back(service->settings.listen);
            }
            continue;
        }
        net::Address address = first ? service->settings.listen : bound[i];
        const bool is_unix = address.kind == net::Address::Kind::unix_socket;
        if (is_unix && !first) {
            continue; // one unix listener per path, owned by worker 0
        }
        auto listener = std::make_unique<net::Listener>(
            &loop_, address,
            [this, service](net::Listener& accepted) { accept_on(service, accepted); });
        listener->set_socket_options(service->options_for('a'));
        if (std::string error = listener->open(true); !error.empty()) {
            listener->close();
            listeners_.push_back(ListenerSlot{service, std::move(listener)});
            return fmt::format("service {}: {}", service->settings.name, error);
        }
        if (first) {
            bound.push_back(listener->bound_address());
            log::info("service={} listening on {}", service->settings.name,
                      listener->bound_address().to_string());
        }
        listeners_.push_back(ListenerSlot{service, std::move(listener)});
    }
    return "";
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
    uv_async_send(&wake_);
}

void Worker::on_async(uv_async_t* handle) {
    auto* self = static_cast<Worker*>(handle->data);
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
        slot.listener->close();
    }
    if (session_count_ > 0) {
        log::info("worker {}: draining {} connection(s), deadline {} ms", index_, session_count_,
                  global_.drain_timeout.count());
        uv_timer_start(&drain_timer_, on_drain_timer,
                       static_cast<uint64_t>(global_.drain_timeout.count()), 0);
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
    uv_close(reinterpret_cast<uv_handle_t*>(&wake_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&drain_timer_), nullptr);
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
