#pragma once

#include "tlsgate/core/chunk_pool.hpp"
#include "tlsgate/core/uv_handle.hpp"
#include "tlsgate/net/address.hpp"

#include <cstddef>
#include <memory>
#include <string>
#include <uv.h>

namespace tlsgate::net {

struct WriteRequest;

class Stream;

// What a stream reports to its owner. Callbacks arrive on the owner's loop thread.
class StreamHandler {
public:
    virtual void on_stream_read(Stream& stream, const char* data, size_t size) = 0;
    virtual void on_stream_eof(Stream& stream) = 0;
    virtual void on_stream_error(Stream& stream, int uv_error) = 0;
    virtual void on_stream_connected(Stream& stream, int status) = 0;
    // The write queue fell to or below the low-water mark.
    virtual void on_stream_drained(Stream& stream) = 0;
    virtual void on_stream_shutdown(Stream& stream, int status) = 0;
    virtual void on_stream_closed(Stream& stream) = 0;

protected:
    ~StreamHandler() = default;
};

// One loop-wide scratch buffer for reads: a read is handled completely before the next one,
// so streams on the same loop can share it instead of allocating per read.
struct ReadBuffer {
    static constexpr size_t kSize = 64 * 1024;
    char bytes[kSize];
};

// Bytes that live outside the stream until it writes them (Stream::write_from).
class WriteSource {
public:
    virtual size_t gather(core::ByteSpan* spans, size_t max) const = 0; // the bytes, in order
    virtual void consume(size_t size) = 0;               // drop the first `size` bytes
    virtual size_t take(char* out, size_t capacity) = 0; // copy out and drop

protected:
    ~WriteSource() = default;
};

// A TCP connection or a unix-socket connection. The uv handle lives inside this object, so
// the object is released only after on_stream_closed. Writes own their bytes until done.
class Stream {
public:
    static constexpr size_t kLowWater = 64 * 1024;

    Stream(uv_loop_t* loop, Address::Kind kind, StreamHandler& handler, ReadBuffer& buffer,
           int tag);
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;
    ~Stream() = default;

    int tag() const { return tag_; } // the owner's name for this stream (client/backend)
    uv_stream_t* raw() { return &handle_.get()->stream; }

    [[nodiscard]] int accept_from(uv_stream_t* server);
    // Adopts an open descriptor (inetd's stdin, our end of an exec socketpair); the stream
    // owns it from here. Returns a uv error code.
    [[nodiscard]] int open_fd(int fd);
    // Unix-socket kind only: reads from one descriptor and writes to another (inetd mode on
    // two pipes). A shutdown then closes the writing pipe, a pipe's only way to say EOF.
    [[nodiscard]] int open_fds(int read_fd, int write_fd);
    // TCP only: creates the socket now (instead of at connect) so options can be set and a
    // source address bound before connecting. Returns a uv error code.
    [[nodiscard]] int open_socket(int family);
    [[nodiscard]] int bind(const sockaddr* address);
    [[nodiscard]] int connect(const sockaddr* address);
    [[nodiscard]] int connect_unix(const std::string& path);
    // The descriptor, or -1 when there is none yet.
    int fd() const;
    Address::Kind kind() const { return kind_; }
    // After on_stream_closed only: a fresh handle of `kind` in this object, for the next
    // backend attempt (a failed TCP connect cannot be retried on the same handle, and the
    // next backend may be a unix socket).
    void reinit(Address::Kind kind);

    void start_reading();
    void stop_reading();
    bool reading() const { return reading_; }

    // Copies `data`. Returns a uv error code (0 on success).
    [[nodiscard]] int write(const char* data, size_t size);
    // Writes the `size` bytes `source` holds (a TLS engine's ciphertext): straight from where
    // they are, gathered in one writev, when the socket takes them at once; only what it does
    // not take is copied into a queued request. Either way they leave `source`.
    [[nodiscard]] int write_from(WriteSource& source, size_t size);
    size_t pending_write_bytes() const { return pending_write_bytes_; }

    // Half-close our sending side once pending writes are done.
    int shutdown();
    bool shutdown_requested() const { return shutdown_requested_; }
    // Idempotent. `abortive` sends a TCP RST where possible.
    void close(bool abortive = false);
    bool closing() const { return handle_.closing(); }
    // libuv has let go of every handle of this stream (on_stream_closed has run, or is
    // running): the owner may be freed.
    bool released() const {
        return handle_.released() && (!write_pipe_ || write_pipe_->released());
    }
    // Bytes the peer sent that nobody read yet (FIONREAD). Closing a TCP socket with unread
    // input makes the kernel send a RST, which can destroy what we wrote last.
    bool has_unread_input() const;
    // Whether close(true) could send a RST (TCP, and no shutdown before it).
    bool reset_sent() const { return reset_sent_; }

    std::string peer_name() const;
    // The socket's own address ("unknown" for unix sockets or when there is none).
    std::string local_name() const;
    // getpeername/getsockname into `out`; false for a unix socket or a non-socket.
    bool peer_address(sockaddr_storage& out) const;
    bool local_address(sockaddr_storage& out) const;
    void set_nodelay();

private:
    size_t try_write_now(const uv_buf_t* bufs, size_t count);
    int queue_write(WriteRequest* request);
    static void on_alloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
    static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
    static void on_write(uv_write_t* request, int status);
    static void on_connect(uv_connect_t* request, int status);
    static void on_shutdown(uv_shutdown_t* request, int status);
    union Handle {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    };
    static void on_handle_closed(Handle* handle);
    static void on_write_pipe_closed(uv_pipe_t* pipe);
    // The owner hears of the close once every handle of this stream has been released.
    void report_closed_when_released();
    uv_stream_t* write_stream() {
        return split_ ? reinterpret_cast<uv_stream_t*>(write_pipe_->get()) : raw();
    }

    core::UvHandle<Handle> handle_;
    uv_loop_t* loop_;
    Address::Kind kind_;
    StreamHandler& handler_;
    ReadBuffer& buffer_;
    int tag_;
    // A stream connects (backend) before it can shut down, never both at once: one slot.
    union Request {
        uv_connect_t connect;
        uv_shutdown_t shutdown;
    } request_{};
    bool connecting_ = false;
    size_t pending_write_bytes_ = 0;
    bool reading_ = false;
    bool shutdown_requested_ = false;
    // open_fds: the writing pipe (inetd with two pipes only).
    std::unique_ptr<core::UvHandle<uv_pipe_t>> write_pipe_;
    bool split_ = false;
    bool reset_sent_ = false;
};

} // namespace tlsgate::net
