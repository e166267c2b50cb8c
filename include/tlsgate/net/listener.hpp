#pragma once

#include "tlsgate/net/address.hpp"
#include "tlsgate/net/socket_options.hpp"

#include <functional>
#include <string>
#include <uv.h>
#include <vector>

namespace tlsgate::net {

// A listening socket (TCP with SO_REUSEPORT, or unix). Accepted connections are announced
// through `on_connection`; the callee calls uv_accept on `raw()`.
class Listener {
public:
    using ConnectionCallback = std::function<void(Listener&)>;

    Listener(uv_loop_t* loop, Address address, ConnectionCallback on_connection);
    Listener(const Listener&) = delete;
    Listener& operator=(const Listener&) = delete;
    ~Listener();

    // Binds and listens; returns "" or a readable error. `reuse_port` lets several workers
    // listen on the same TCP address.
    std::string open(bool reuse_port, int backlog = 1024);
    // Socket options (stunnel's 'a:') set by open() before listen (before bind for TCP).
    void set_socket_options(std::vector<ParsedSocketOption> options) {
        options_ = std::move(options);
    }
    // The address actually bound (port 0 resolved).
    const Address& bound_address() const { return bound_; }
    uv_stream_t* raw() { return &handle_.stream; }
    Address::Kind kind() const { return address_.kind; }

    // Idempotent; `on_closed` runs once the handle is released.
    void close(std::function<void()> on_closed = {});
    bool is_open() const { return opened_ && !closing_; }

private:
    std::string apply_options();
    static void on_connection_cb(uv_stream_t* server, int status);
    static void on_close(uv_handle_t* handle);

    union Handle {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } handle_;
    uv_loop_t* loop_;
    Address address_;
    Address bound_;
    ConnectionCallback on_connection_;
    std::function<void()> on_closed_;
    std::vector<ParsedSocketOption> options_;
    bool initialized_ = false;
    bool opened_ = false;
    bool closing_ = false;
    bool closed_ = false;
};

} // namespace tlsgate::net
