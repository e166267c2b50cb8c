#include "tlsgate/proxy/server.hpp"

#include "tlsgate/log/log.hpp"
#include "tlsgate/proxy/inetd.hpp"
#include "tlsgate/proxy/worker.hpp"
#include "tlsgate/tls/context.hpp"

#include <csignal>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/resource.h>
#include <uv.h>

namespace tlsgate::proxy {
namespace {

// The control loop on the main thread: signals in, drain requests out, and a wake-up for
// every worker that has finished.
class Control {
public:
    explicit Control(std::vector<std::unique_ptr<Worker>>& workers) : workers_(workers) {
        uv_loop_init(&loop_);
        for (auto& signal : signals_) {
            uv_signal_init(&loop_, &signal);
            signal.data = this;
        }
        uv_signal_start(&signals_[0], on_signal, SIGTERM);
        uv_signal_start(&signals_[1], on_signal, SIGINT);
        // SIGHUP's default action would kill the proxy (a logrotate or `systemctl reload`
        // away); until reload exists it is caught and said to be ignored.
        uv_signal_start(&signals_[2], on_hangup, SIGHUP);
        uv_async_init(&loop_, &worker_exited_, on_worker_exited);
        worker_exited_.data = this;
    }
    ~Control() { uv_loop_close(&loop_); }

    void notify_worker_exited() {
        exited_++;
        uv_async_send(&worker_exited_);
    }
    void run() { uv_run(&loop_, UV_RUN_DEFAULT); }

private:
    static void on_signal(uv_signal_t* handle, int signum) {
        auto* self = static_cast<Control*>(handle->data);
        log::notice("received {}, {}", signum == SIGTERM ? "SIGTERM" : "SIGINT",
                    self->signalled_ ? "closing every connection now" : "draining connections");
        self->signalled_ = true;
        for (auto& worker : self->workers_) {
            worker->request_drain();
        }
    }
    static void on_hangup(uv_signal_t*, int) {
        log::warning("received SIGHUP: configuration reload is not implemented yet; ignored");
    }
    static void on_worker_exited(uv_async_t* handle) {
        auto* self = static_cast<Control*>(handle->data);
        if (self->exited_.load() == self->workers_.size()) {
            for (auto& signal : self->signals_) {
                uv_close(reinterpret_cast<uv_handle_t*>(&signal), nullptr);
            }
            uv_close(reinterpret_cast<uv_handle_t*>(&self->worker_exited_), nullptr);
        }
    }

    std::vector<std::unique_ptr<Worker>>& workers_;
    uv_loop_t loop_{};
    uv_signal_t signals_[3]{};
    uv_async_t worker_exited_{};
    std::atomic<size_t> exited_{0};
    bool signalled_ = false;
};

// Each connection needs two descriptors; the usual soft limit of 1024 would cap a proxy at
// about 500 connections, so take whatever the hard limit allows.
void raise_descriptor_limit() {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
        return;
    }
    if (limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
    getrlimit(RLIMIT_NOFILE, &limit);
    if (limit.rlim_cur < 4096) {
        log::warning("open file limit is {}: at most about {} concurrent connections",
                     static_cast<unsigned long>(limit.rlim_cur), limit.rlim_cur / 2);
    }
}

} // namespace

int run_server(const config::Config& config, std::vector<std::shared_ptr<Service>> services) {
    if (services.size() == 1 && services[0]->settings.inetd) {
        return run_inetd(config, services[0]);
    }
    std::signal(SIGPIPE, SIG_IGN);
    raise_descriptor_limit();
    unsigned count = config.global.workers;
    if (count == 0) {
        count = uv_available_parallelism();
    }
    std::vector<std::unique_ptr<Worker>> workers;
    std::atomic<uint64_t> connection_ids{0};
    std::vector<net::Address> bound;
    for (unsigned i = 0; i < count; ++i) {
        workers.push_back(std::make_unique<Worker>(i, config.global, services, connection_ids));
        // Worker 0 binds first so the others reuse a port the kernel chose for port 0.
        if (std::string error = workers.back()->open_listeners(bound); !error.empty()) {
            log::error("cannot start: {}", error);
            return 1;
        }
    }
    Control control(workers);
    for (auto& worker : workers) {
        worker->start([&control] { control.notify_worker_exited(); });
    }
    log::notice("tlsgate ready: {} service(s), {} worker(s)", services.size(), count);
    control.run();
    for (auto& worker : workers) {
        worker->join();
    }
    for (const auto& service : services) {
        const ServiceCounters& c = service->counters;
        log::notice("service={} totals: accepted={} handshakes={} handshake_failures={} "
                    "backend_failures={} starttls={} auth_refused_before_tls={} "
                    "commands_refused={} injected_bytes_discarded={} overlong_lines={}",
                    service->settings.name, c.accepted.load(), c.handshakes_completed.load(),
                    c.handshakes_failed.load(), c.backend_failures.load(),
                    c.starttls_completed.load(), c.auth_refused_before_tls.load(),
                    c.commands_refused.load(), c.injected_bytes_discarded.load(),
                    c.overlong_lines.load());
    }
    log::notice("tlsgate stopped");
    return 0;
}

} // namespace tlsgate::proxy
