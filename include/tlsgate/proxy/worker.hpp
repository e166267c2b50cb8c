#pragma once

#include "tlsgate/config/model.hpp"
#include "tlsgate/net/listener.hpp"
#include "tlsgate/net/stream.hpp"
#include "tlsgate/proxy/service.hpp"

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <uv.h>
#include <vector>

namespace tlsgate::proxy {

class Session;

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
    std::string open_listeners(std::vector<net::Address>& bound);
    // Runs the loop on a new thread; `on_exit` is called on that thread when the loop ends.
    void start(std::function<void()> on_exit);
    void request_drain(); // thread-safe: stop accepting, let sessions finish
    // inetd mode: the loop ends once its sessions have (no deadline). Call before start().
    void exit_when_idle() { exit_when_idle_ = true; }
    void join();

    unsigned index() const { return index_; }
    uv_loop_t* loop() { return &loop_; }
    net::ReadBuffer& read_buffer() { return read_buffer_; }
    net::ReadBuffer& plaintext_buffer() { return plaintext_buffer_; }
    uint64_t next_connection_id() { return ++connection_ids_; }

    void session_started(Session* session);
    void session_finished(Session* session);

private:
    struct ListenerSlot {
        std::shared_ptr<Service> service;
        std::unique_ptr<net::Listener> listener;
    };

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
    uv_async_t wake_{};
    uv_timer_t drain_timer_{};
    std::atomic<bool> drain_requested_{false};
    bool draining_ = false;
    bool stopping_ = false;
    bool exit_when_idle_ = false;
    std::vector<ListenerSlot> listeners_;
    Session* sessions_ = nullptr; // intrusive list of live sessions
    size_t session_count_ = 0;
    net::ReadBuffer read_buffer_;
    net::ReadBuffer plaintext_buffer_;
    std::thread thread_;
};

} // namespace tlsgate::proxy
