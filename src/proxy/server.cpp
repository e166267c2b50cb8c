#include "tlsgate/proxy/server.hpp"

#include "tlsgate/config/keys.hpp"
#include "tlsgate/core/daemon.hpp"
#include "tlsgate/core/systemd.hpp"
#include "tlsgate/core/uv_handle.hpp"
#include "tlsgate/log/log.hpp"
#include "tlsgate/proxy/inetd.hpp"
#include "tlsgate/proxy/ports_file.hpp"
#include "tlsgate/proxy/worker.hpp"

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fmt/format.h>
#include <future>
#include <sys/resource.h>
#include <unistd.h>
#include <uv.h>

namespace tlsgate::proxy {
namespace {

// This generation's totals plus those of the generations a reload replaced (folded in once
// their last session ended).
void log_totals(const Service& service, std::string_view when) {
    ServiceCounters c;
    c.add(service.counters);
    if (service.earlier_generations) {
        c.add(*service.earlier_generations);
    }
    log::notice("service={} {}totals: accepted={} handshakes={} handshake_failures={} "
                "backend_failures={} starttls={} auth_refused_before_tls={} "
                "commands_refused={} injected_bytes_discarded={} overlong_lines={} "
                "early_talkers={}",
                service.settings.name, when, c.accepted.load(), c.handshakes_completed.load(),
                c.handshakes_failed.load(), c.backend_failures.load(), c.starttls_completed.load(),
                c.auth_refused_before_tls.load(), c.commands_refused.load(),
                c.injected_bytes_discarded.load(), c.overlong_lines.load(), c.early_talkers.load());
}

// [global] keys that shape the process itself (threads, identity, files opened at start):
// a reload keeps the running values and says a restart is needed.
void report_restart_only(const config::Global& running, const config::Global& loaded) {
    for (const std::string& key : config::restart_only_changes(running, loaded)) {
        log::warning("reload: global.{} changed; that takes effect only after a restart, "
                     "the running value is kept",
                     key);
    }
}

// systemd's STATUS= line (systemctl status shows it): connections now and since start.
std::string status_line(std::string_view state,
                        const std::vector<std::shared_ptr<Service>>& services) {
    uint64_t active = 0;
    uint64_t accepted = 0;
    for (const auto& service : services) {
        active += service->counters.active.load();
        accepted += service->counters.accepted.load();
        if (service->earlier_generations) {
            accepted += service->earlier_generations->accepted.load();
        }
    }
    return fmt::format("STATUS={}: {} service(s), {} open connection(s), {} accepted", state,
                       services.size(), active, accepted);
}

// Under systemd (Type=notify) the status line is refreshed this often.
constexpr uint64_t kStatusIntervalMs = 5000;

// The control loop on the main thread: signals in; drain requests, new service sets and
// connection-list requests out; and a wake-up for every worker that has finished.
class Control {
public:
    Control(std::vector<std::unique_ptr<Worker>>& workers,
            std::vector<std::shared_ptr<Service>>& services, const config::Global& global,
            ConfigLoader reload, PortsFile& ports_file)
        : workers_(workers), services_(services), global_(global), reload_(std::move(reload)),
          ports_file_(ports_file) {
        uv_loop_init(&loop_);
        watch(SIGTERM, on_stop_signal);
        watch(SIGINT, on_stop_signal);
        watch(SIGQUIT, on_stop_signal); // stunnel's; drains too
        watch(SIGHUP, on_hangup);
        watch(SIGUSR1, on_reopen_log);
        watch(SIGUSR2, on_list_connections);
        // Cannot fail on a fresh loop.
        (void)worker_exited_.open(
            [this](uv_async_t* handle) { return uv_async_init(&loop_, handle, on_worker_exited); });
        if (core::systemd::notify_enabled()) {
            (void)status_timer_.open(
                [this](uv_timer_t* handle) { return uv_timer_init(&loop_, handle); });
            (void)uv_timer_start(status_timer_.get(), on_status_timer, kStatusIntervalMs,
                                 kStatusIntervalMs);
        }
        // Certificates were checked at start (prepare_services); again once a day.
        constexpr uint64_t kDayMs = 24ull * 60 * 60 * 1000;
        (void)validity_timer_.open(
            [this](uv_timer_t* handle) { return uv_timer_init(&loop_, handle); });
        (void)uv_timer_start(validity_timer_.get(), on_validity_timer, kDayMs, kDayMs);
    }
    ~Control() { uv_loop_close(&loop_); }

    void notify_worker_exited() {
        exited_++;
        uv_async_send(worker_exited_.get());
    }
    void run() { uv_run(&loop_, UV_RUN_DEFAULT); }

private:
    // uv_signal_init and uv_signal_start cannot fail for these signals on a fresh loop.
    void watch(int signum, uv_signal_cb callback) {
        auto& signal = signals_.emplace_back(std::make_unique<core::UvHandle<uv_signal_t>>(this));
        (void)signal->open([this](uv_signal_t* handle) { return uv_signal_init(&loop_, handle); });
        (void)uv_signal_start(signal->get(), callback, signum);
    }
    static const char* signal_name(int signum) {
        switch (signum) {
        case SIGTERM:
            return "SIGTERM";
        case SIGINT:
            return "SIGINT";
        case SIGQUIT:
            return "SIGQUIT";
        }
        return "signal";
    }
    static void on_stop_signal(uv_signal_t* handle, int signum) {
        auto* self = static_cast<Control*>(handle->data);
        log::notice("received {}, {}", signal_name(signum),
                    self->signalled_ ? "closing every connection now" : "draining connections");
        if (!self->signalled_) {
            core::systemd::notify(
                fmt::format("STOPPING=1\n{}", status_line("draining", self->services_)));
        }
        self->signalled_ = true;
        for (auto& worker : self->workers_) {
            worker->request_drain();
        }
    }
    static void on_hangup(uv_signal_t* handle, int) {
        static_cast<Control*>(handle->data)->reload();
    }
    static void on_reopen_log(uv_signal_t*, int) {
        if (auto reopened = log::reopen(); !reopened) {
            log::error("received SIGUSR1: {}", reopened.error().message);
        } else {
            log::notice("received SIGUSR1: log file reopened");
        }
    }
    static void on_list_connections(uv_signal_t* handle, int) {
        auto* self = static_cast<Control*>(handle->data);
        log::notice("received SIGUSR2: listing open connections");
        for (auto& worker : self->workers_) {
            worker->request_connection_list();
        }
    }
    static void on_validity_timer(uv_timer_t* handle) {
        auto* self = static_cast<Control*>(handle->data);
        for (const auto& warning : certificate_warnings(
                 self->services_, self->global_.cert_expiry_warning, std::time(nullptr))) {
            log::warning("{}", warning.to_string());
        }
    }
    static void on_worker_exited(uv_async_t* handle) {
        auto* self = static_cast<Control*>(handle->data);
        if (self->exited_.load() == self->workers_.size()) {
            for (auto& signal : self->signals_) {
                signal->close();
            }
            // Closing a watcher gives its signal back its default action, which for these
            // ends the process: a second SIGTERM during the last steps of a clean stop would
            // turn exit status 0 into "killed by SIGTERM". Stopping is already under way.
            for (int signum : {SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2}) {
                std::signal(signum, SIG_IGN);
            }
            self->worker_exited_.close();
            self->status_timer_.close();
            self->validity_timer_.close();
        }
    }
    static void on_status_timer(uv_timer_t* handle) {
        auto* self = static_cast<Control*>(handle->data);
        core::systemd::notify(
            status_line(self->signalled_ ? "draining" : "running", self->services_));
    }

    // SIGHUP. Everything that can fail (parsing, certificates, keys, opening new listeners in
    // the first worker) is done before anything changes; on any error the running services
    // stay untouched.
    void reload();
    bool hand_over(const std::vector<std::shared_ptr<Service>>& next);

    std::vector<std::unique_ptr<Worker>>& workers_;
    std::vector<std::shared_ptr<Service>>& services_;
    config::Global global_;
    ConfigLoader reload_;
    PortsFile& ports_file_;
    uv_loop_t loop_{};
    // Closed once every worker has exited, which ends the loop.
    std::vector<std::unique_ptr<core::UvHandle<uv_signal_t>>> signals_;
    core::UvHandle<uv_async_t> worker_exited_{this};
    core::UvHandle<uv_timer_t> status_timer_{this}; // only under systemd's Type=notify
    core::UvHandle<uv_timer_t> validity_timer_{this};
    std::atomic<size_t> exited_{0};
    bool signalled_ = false;
};

void Control::reload() {
    if (signalled_) {
        log::warning("received SIGHUP while shutting down: ignored");
        return;
    }
    if (!reload_) {
        log::warning("received SIGHUP: this configuration cannot be reloaded; ignored");
        return;
    }
    log::notice("received SIGHUP: reloading the configuration");
    // systemd: reloading until this returns, whether the new configuration was taken or not.
    core::systemd::notify(core::systemd::reloading_state());
    struct ReadyAgain {
        const std::vector<std::shared_ptr<Service>>& services;
        ~ReadyAgain() {
            core::systemd::notify(fmt::format("READY=1\n{}", status_line("running", services)));
        }
    } ready_again{services_};
    config::LoadResult loaded = reload_();
    for (const auto& warning : loaded.warnings) {
        log::warning("reload: {}", warning.to_string());
    }
    std::vector<config::ConfigError> errors = loaded.errors;
    Prepared prepared;
    if (loaded.config) {
        prepared = prepare_services(*loaded.config);
        for (const auto& warning : prepared.warnings) {
            log::warning("reload: {}", warning.to_string());
        }
        errors.insert(errors.end(), prepared.errors.begin(), prepared.errors.end());
    }
    if (!errors.empty()) {
        for (const auto& error : errors) {
            log::error("reload: {}", error.to_string());
        }
        log::error("reload failed: {} error(s); the running configuration is unchanged",
                   errors.size());
        return;
    }
    report_restart_only(global_, loaded.config->global);
    // Totals by service name survive the reload: both generations feed one sink. Set before
    // the new services are published to the workers.
    for (const auto& fresh : prepared.services) {
        for (const auto& running : services_) {
            if (running->settings.name == fresh->settings.name) {
                if (!running->earlier_generations) {
                    running->earlier_generations = std::make_shared<ServiceCounters>();
                }
                fresh->earlier_generations = running->earlier_generations;
            }
        }
    }
    if (!hand_over(prepared.services)) {
        return;
    }
    global_.log_level = loaded.config->global.log_level;
    global_.cert_expiry_warning = loaded.config->global.cert_expiry_warning;
    log::set_level(global_.log_level);
    for (const auto& running : services_) {
        const bool kept =
            std::any_of(prepared.services.begin(), prepared.services.end(), [&](const auto& next) {
                return next->settings.name == running->settings.name;
            });
        if (!kept) {
            log_totals(*running, "removed at reload; ");
        }
    }
    services_ = std::move(prepared.services);
    log::notice("reload done: {} service(s)", services_.size());
}

bool Control::hand_over(const std::vector<std::shared_ptr<Service>>& next) {
    // One worker at a time, the first one first: it binds new listeners (resolving port 0)
    // and, if one cannot be opened, the reload stops before any worker has changed.
    std::vector<net::Address> bound;
    for (size_t i = 0; i < workers_.size(); ++i) {
        auto update = std::make_shared<ServiceUpdate>();
        update->services = next;
        update->bound = bound;
        auto done = update->done.get_future();
        workers_[i]->post_update(update);
        // No deadline needed: a worker's loop ends only after a drain, and no drain can begin
        // while this (the only thread handling signals) is busy here.
        const Result<> applied = done.get();
        if (!applied && i == 0) {
            log::error("reload failed: {}; the running configuration is unchanged",
                       applied.error().message);
            return false;
        }
        if (!applied) {
            log::error("reload: worker {} keeps the previous services: {}", i,
                       applied.error().message);
            continue;
        }
        if (i == 0) {
            bound = update->bound;
        }
    }
    // Every worker is done: the listeners a reload added are bound everywhere.
    if (auto written = ports_file_.replace(bound_listeners(next, bound)); !written) {
        log::warning("reload: {}", written.error().message);
    }
    return true;
}

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

int run_server(const config::Config& config, std::vector<std::shared_ptr<Service>> services,
               const RunOptions& options) {
    if (services.size() == 1 && services[0]->settings.inetd) {
        return run_inetd(config, services[0]);
    }
    std::signal(SIGPIPE, SIG_IGN);
    // Their default action is to terminate. Until the control loop catches them (a logrotate
    // or a reload can arrive while the daemon is still starting), they are ignored.
    for (int signum : {SIGHUP, SIGUSR1, SIGUSR2}) {
        std::signal(signum, SIG_IGN);
    }
    const config::Global& global = config.global;
    // Until the daemon has detached (or, in the foreground, until it is ready) a start-up
    // error must reach the terminal even when lines go to syslog or a log file: said on
    // stderr here, or, after the fork, by the waiting parent (the daemon's own stderr is
    // a terminal nobody may be reading once the parent has gone).
    const bool lines_reach_stderr =
        !global.log_file && global.log_target == config::LogTarget::stderr_stream;
    core::Detacher detacher;
    auto cannot_start = [&](const std::string& why) {
        log::error("cannot start: {}", why);
        if (detacher.parent_waiting()) {
            // When lines go to stderr the daemon's line above already reached the parent's
            // stderr (inherited): the parent then only exits 1.
            detacher.fail(lines_reach_stderr ? "" : fmt::format("cannot start: {}", why));
        } else if (!lines_reach_stderr) {
            fmt::print(stderr, "error: cannot start: {}\n", why);
        }
        return 1;
    };
    if (auto configured = log::configure(global); !configured) {
        return cannot_start(configured.error().message);
    }
    // main printed the certificate warnings on stderr; a log kept elsewhere has them too.
    if (global.log_file || global.log_target == config::LogTarget::syslog) {
        for (const auto& warning :
             certificate_warnings(services, global.cert_expiry_warning, std::time(nullptr))) {
            log::warning("{}", warning.to_string());
        }
    }
    // Users and groups are looked up now, while /etc/passwd and /etc/group are reachable.
    auto resolved = core::resolve_identity(global.user, global.group);
    if (!resolved) {
        return cannot_start(resolved.error().message);
    }
    const core::Identity identity = std::move(resolved).value();
    // Absolute before a daemon moves to "/" (a front end may leave these relative).
    auto absolute = [](const std::optional<std::string>& path) -> std::optional<std::string> {
        if (!path) {
            return std::nullopt;
        }
        return std::filesystem::absolute(*path).string();
    };
    const std::optional<std::string> pid_path = absolute(global.pid_file);
    const std::optional<std::string> chroot_path = absolute(global.chroot);
    const std::optional<std::string> ports_path = absolute(options.ports_file);
    // A pid file naming a live process means another instance: stop before binding, which
    // SO_REUSEPORT would otherwise let both do.
    if (pid_path) {
        if (auto checked = core::check_pid_file(*pid_path, getpid()); !checked) {
            return cannot_start(checked.error().message);
        }
    }
    // Detach before any loop or thread exists: forking a process that already holds libuv
    // loops would need uv_loop_fork on each. The parent waits for ready() or fail() below,
    // so errors from here on still reach the terminal and the exit status.
    const bool daemon = options.daemon || global.daemon;
    // Socket activation: systemd's descriptors are this process's (LISTEN_PID), so they are
    // taken before a fork; the listeners below use those whose address they name.
    const size_t inherited = core::systemd::adopt_inherited_sockets();
    if (daemon && !global.log_file && global.log_target == config::LogTarget::stderr_stream) {
        log::warning("running as a daemon with log = \"stderr\" and no log_file: every line "
                     "after start-up goes to /dev/null");
    }
    if (daemon) {
        if (auto detached = detacher.detach(); !detached) {
            return cannot_start(detached.error().message);
        }
    }
    raise_descriptor_limit();
    unsigned count = global.workers;
    if (count == 0) {
        count = uv_available_parallelism();
    }
    std::vector<std::unique_ptr<Worker>> workers;
    std::atomic<uint64_t> connection_ids{0};
    std::vector<net::Address> bound;
    for (unsigned i = 0; i < count; ++i) {
        workers.push_back(std::make_unique<Worker>(i, global, services, connection_ids));
        // Worker 0 binds first so the others reuse a port the kernel chose for port 0.
        if (auto opened = workers.back()->open_listeners(bound); !opened) {
            return cannot_start(opened.error().message);
        }
    }
    if (inherited > 0) {
        log::notice("socket activation: {} socket(s) inherited from systemd", inherited);
        for (const std::string& unused : core::systemd::unused_inherited_sockets()) {
            log::warning("socket activation: the inherited socket {} matches no listen "
                         "address; not used",
                         unused);
        }
    }
    // Created while still privileged (its directory may be root's); removed at exit.
    core::PidFile pid_file;
    if (pid_path) {
        if (auto created = pid_file.create(*pid_path, getpid()); !created) {
            return cannot_start(created.error().message);
        }
    }
    // Every worker has bound every listener. Written while still privileged, like the pid
    // file; removed at exit.
    PortsFile ports_file;
    if (ports_path) {
        if (auto written = ports_file.create(*ports_path, bound_listeners(services, bound));
            !written) {
            return cannot_start(written.error().message);
        }
    }
    // Certificates and keys are loaded (prepare_services ran in main) and listeners bound;
    // a reload later resolves every path inside the chroot.
    if (chroot_path) {
        if (auto entered = core::enter_chroot(*chroot_path); !entered) {
            return cannot_start(entered.error().message);
        }
    }
    // Before any worker thread exists, so no thread ever runs with the old identity.
    if (auto dropped = core::drop_privileges(identity); !dropped) {
        return cannot_start(dropped.error().message);
    }
    Control control(workers, services, global, options.reload, ports_file);
    for (auto& worker : workers) {
        worker->start([&control] { control.notify_worker_exited(); });
    }
    log::notice("tlsgate ready: {} service(s), {} worker(s){}", services.size(), count,
                identity.change_user ? fmt::format(", running as {}", identity.user_name) : "");
    // Before the parent of a daemon exits (it waits for ready() below): systemd then learns
    // the new main pid from a live process.
    core::systemd::notify(
        fmt::format("READY=1\nMAINPID={}\n{}", getpid(), status_line("running", services)));
    if (auto told = detacher.ready(); !told) {
        // The parent is still waiting and would wait as long as this runs: stop the workers
        // (no session can exist yet) and tell it.
        for (auto& worker : workers) {
            worker->request_drain();
        }
        control.run(); // ends once every worker has exited
        for (auto& worker : workers) {
            worker->join();
        }
        return cannot_start(told.error().message);
    }
    control.run();
    for (auto& worker : workers) {
        worker->join();
    }
    for (const auto& service : services) {
        log_totals(*service, "");
    }
    if (auto removed = pid_file.remove(); !removed) {
        log::warning("{}", removed.error().message);
    }
    if (auto removed = ports_file.remove(); !removed) {
        log::warning("{}", removed.error().message);
    }
    log::notice("tlsgate stopped");
    return 0;
}

} // namespace tlsgate::proxy
