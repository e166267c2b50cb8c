#pragma once

#include "tlsgate/core/result.hpp"
#include "tlsgate/core/uv_handle.hpp"
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

    // Binds and listens; the error is readable. `reuse_port` lets several workers listen on
    // the same TCP address.
    Result<> open(bool reuse_port, int backlog = 1024);
    // Socket options (stunnel's 'a:') set by open() before listen (before bind for TCP).
    void set_socket_options(std::vector<ParsedSocketOption> options) {
        options_ = std::move(options);
    }
    // The address actually bound (port 0 resolved).
    const Address& bound_address() const { return bound_; }
    uv_stream_t* raw() { return &handle_.get()->stream; }
    Address::Kind kind() const { return address_.kind; }

    // Idempotent. This object may be freed once released() says libuv let go of the socket.
    void close() { handle_.close(); }
    bool released() const { return handle_.released(); }
    bool is_open() const { return opened_ && !handle_.closing(); }

private:
    union Handle {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    };
    Result<> apply_options();
    // Socket activation: listen on `fd`, a duplicate of a socket systemd bound.
    Result<> open_inherited_tcp(int fd, int backlog);
    Result<> listen_now(int backlog);
    static void on_connection_cb(uv_stream_t* server, int status);
    static void on_closed(Handle* handle);

    core::UvHandle<Handle> handle_;
    uv_loop_t* loop_;
    Address address_;
    Address bound_;
    ConnectionCallback on_connection_;
    std::vector<ParsedSocketOption> options_;
    bool opened_ = false;
    bool inherited_ = false; // the socket came from systemd (LISTEN_FDS): never unlinked
};

} // namespace tlsgate::net
