#pragma once

#include "tlsgate/config/model.hpp"
#include "tlsgate/core/chunk_pool.hpp"
#include "tlsgate/core/result.hpp"
#include "tlsgate/core/uv_handle.hpp"
#include "tlsgate/net/listener.hpp"
#include "tlsgate/net/stream.hpp"
#include "tlsgate/proxy/service.hpp"

#include <atomic>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <uv.h>
#include <vector>

namespace tlsgate::proxy {

class Session;

// A new service set on its way from the control thread to one worker (SIGHUP reload).
// `bound` is index-aligned with `services`: the first worker fills it with the addresses it
// listens on (port 0 resolved), the others bind the same ones.
struct ServiceUpdate {
    std::vector<std::shared_ptr<Service>> services;
    std::vector<net::Address> bound;
    std::promise<Result<>> done; // fails with why the worker kept its old services
};

// One event loop on one thread: its own listeners (SO_REUSEPORT spreads accepts between
// workers), its sessions, and scratch buffers shared by those sessions.
class Worker {
public:
    Worker(unsigned index, const config::Global& global,
           const std::vector<std::shared_ptr<Service>>& services,
           std::atomic<uint64_t>& connection_ids);
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;
    ~Worker();

    // Binds this worker's listeners. Called on the starting thread before run(). Unix-socket
    // listeners are opened by worker 0 only. `bound` receives the actual addresses so other
    // workers reuse a port chosen by the kernel for port 0.
    Result<> open_listeners(std::vector<net::Address>& bound);
    // Runs the loop on a new thread; `on_exit` is called on that thread when the loop ends.
    void start(std::function<void()> on_exit);
    void request_drain(); // thread-safe: stop accepting, let sessions finish
    // inetd mode: the loop ends once its sessions have (no deadline). Call before start().
    void exit_when_idle() { exit_when_idle_ = true; }
    void join();
    // Thread-safe: the worker switches to `update->services` on its own loop and fulfils
    // `update->done`. Listeners whose address is unchanged are kept open (never a refused
    // connection during a reload), removed ones are closed, new ones opened; live sessions
    // keep their old Service. If a new listener cannot be opened nothing changes.
    void post_update(std::shared_ptr<ServiceUpdate> update);
    // Thread-safe: log one line per open connection, on the worker's loop (SIGUSR2).
    void request_connection_list();

    unsigned index() const { return index_; }
    bool draining() const { return draining_; }
    uv_loop_t* loop() { return &loop_; }
    net::ReadBuffer& read_buffer() { return read_buffer_; }
    net::ReadBuffer& plaintext_buffer() { return plaintext_buffer_; }
    core::ChunkPool& chunk_pool() { return chunk_pool_; }
    uint64_t next_connection_id() { return ++connection_ids_; }

    void session_started(Session* session);
    void session_finished(Session* session);

private:
    // A listener and the service its connections go to; the service changes at reload while
    // the socket stays. Held by unique_ptr so the accept callback can keep a stable pointer.
    struct ListenerSlot {
        std::shared_ptr<Service> service;
        std::unique_ptr<net::Listener> listener;
    };

    // Switches to `services` (at start, `listeners_` is empty). On the loop thread only.
    Result<> apply_services(const std::vector<std::shared_ptr<Service>>& services,
                            std::vector<net::Address>& bound);
    std::unique_ptr<ListenerSlot> take_matching_slot(const config::Service& settings);
    void retire(std::unique_ptr<ListenerSlot> slot);
    void sweep_retired();
    void apply_pending_update();
    void list_connections();
    void accept_on(const std::shared_ptr<Service>& service, net::Listener& listener);
    void begin_drain();
    void maybe_stop();
    static void on_async(uv_async_t* handle);
    static void on_drain_timer(uv_timer_t* handle);

    unsigned index_;
    config::Global global_;
    std::vector<std::shared_ptr<Service>> services_;
    std::atomic<uint64_t>& connection_ids_;
    uv_loop_t loop_{};
    // Closed when the loop is to end; released by the loop run in the destructor at the
    // latest.
    core::UvHandle<uv_async_t> wake_{this};
    core::UvHandle<uv_timer_t> drain_timer_{this};
    std::atomic<bool> drain_requested_{false};
    bool draining_ = false;
    bool stopping_ = false;
    std::vector<std::unique_ptr<ListenerSlot>> listeners_;
    // Listeners of removed services, kept until libuv has released them.
    std::vector<std::unique_ptr<ListenerSlot>> retired_;
    std::mutex update_mutex_; // guards pending_update_ only (control thread -> this loop)
    std::shared_ptr<ServiceUpdate> pending_update_;
    std::atomic<bool> list_requested_{false};
    bool exit_when_idle_ = false;
    Session* sessions_ = nullptr; // intrusive list of live sessions
    size_t session_count_ = 0;
    net::ReadBuffer read_buffer_;
    net::ReadBuffer plaintext_buffer_;
    core::ChunkPool chunk_pool_; // TLS ciphertext buffers of this worker's sessions
    std::thread thread_;
};

} // namespace tlsgate::proxy
