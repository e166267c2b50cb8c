#include "tlsgate/net/stream.hpp"

#include "tlsgate/net/sockaddr.hpp"

#include <cerrno>
#include <cstring>
#include <new>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace tlsgate::net {

// A write request and the bytes it owns, in one allocation.
struct WriteRequest {
    uv_write_t request;
    Stream* stream;
    size_t size;

    char* bytes() { return reinterpret_cast<char*>(this + 1); }

    static WriteRequest* create(Stream* stream, size_t size) {
        void* memory = ::operator new(sizeof(WriteRequest) + size);
        auto* request = new (memory) WriteRequest{};
        request->stream = stream;
        request->size = size;
        return request;
    }
    static void destroy(WriteRequest* request) {
        request->~WriteRequest();
        ::operator delete(request);
    }
};

Stream::Stream(uv_loop_t* loop, Address::Kind kind, StreamHandler& handler, ReadBuffer& buffer,
               int tag)
    : handle_(this, on_handle_closed), loop_(loop), kind_(kind), handler_(handler), buffer_(buffer),
      tag_(tag) {
    reinit(kind);
}

void Stream::reinit(Address::Kind kind) {
    kind_ = kind;
    // Neither init can fail (no flags, no address family yet).
    (void)handle_.open([this](Handle* handle) {
        return kind_ == Address::Kind::tcp ? uv_tcp_init(loop_, &handle->tcp)
                                           : uv_pipe_init(loop_, &handle->pipe, 0);
    });
    request_.connect = uv_connect_t{};
    connecting_ = false;
    pending_write_bytes_ = 0;
    reading_ = false;
    shutdown_requested_ = false;
    split_ = false;
    reset_sent_ = false;
}

int Stream::open_fd(int fd) {
    return kind_ == Address::Kind::tcp ? uv_tcp_open(&handle_.get()->tcp, fd)
                                       : uv_pipe_open(&handle_.get()->pipe, fd);
}

int Stream::open_fds(int read_fd, int write_fd) {
    if (kind_ != Address::Kind::unix_socket || split_) {
        return UV_EINVAL;
    }
    // Only inetd mode splits a stream over two pipes: the handle is allocated then, so every
    // other connection does not carry it. Freed with the Stream, after its close callback.
    write_pipe_ = std::make_unique<core::UvHandle<uv_pipe_t>>(this, on_write_pipe_closed);
    (void)write_pipe_->open([this](uv_pipe_t* pipe) { return uv_pipe_init(loop_, pipe, 0); });
    split_ = true;
    if (int rc = uv_pipe_open(&handle_.get()->pipe, read_fd); rc != 0) {
        return rc;
    }
    return uv_pipe_open(write_pipe_->get(), write_fd);
}

int Stream::open_socket(int family) {
    if (kind_ != Address::Kind::tcp) {
        return UV_EINVAL;
    }
    const int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return -errno;
    }
    if (int rc = uv_tcp_open(&handle_.get()->tcp, fd); rc != 0) {
        ::close(fd);
        return rc;
    }
    return 0;
}

int Stream::bind(const sockaddr* address) {
    return kind_ == Address::Kind::tcp ? uv_tcp_bind(&handle_.get()->tcp, address, 0) : UV_EINVAL;
}

int Stream::fd() const {
    uv_os_fd_t fd = -1;
    if (uv_fileno(handle_.as_handle(), &fd) != 0) {
        return -1;
    }
    return fd;
}

int Stream::accept_from(uv_stream_t* server) {
    return uv_accept(server, raw());
}

int Stream::connect(const sockaddr* address) {
    request_.connect = uv_connect_t{};
    request_.connect.data = this;
    const int rc = uv_tcp_connect(&request_.connect, &handle_.get()->tcp, address, on_connect);
    connecting_ = rc == 0;
    return rc;
}

int Stream::connect_unix(const std::string& path) {
    request_.connect = uv_connect_t{};
    request_.connect.data = this;
    uv_pipe_connect(&request_.connect, &handle_.get()->pipe, path.c_str(), on_connect);
    connecting_ = true;
    return 0;
}

void Stream::set_nodelay() {
    if (kind_ == Address::Kind::tcp) {
        uv_tcp_nodelay(&handle_.get()->tcp, 1);
    }
}

void Stream::start_reading() {
    if (!reading_ && !closing()) {
        reading_ = uv_read_start(raw(), on_alloc, on_read) == 0;
    }
}

void Stream::stop_reading() {
    if (reading_) {
        uv_read_stop(raw());
        reading_ = false;
    }
}

int Stream::write(const char* data, size_t size) {
    if (size == 0) {
        return 0;
    }
    if (closing() || shutdown_requested_) {
        return UV_EPIPE;
    }
    // Straight from the caller's bytes when nothing is queued: no copy, no request.
    const uv_buf_t buf = uv_buf_init(const_cast<char*>(data), static_cast<unsigned>(size));
    const size_t done = try_write_now(&buf, 1);
    if (done == size) {
        return 0;
    }
    WriteRequest* request = WriteRequest::create(this, size - done);
    std::memcpy(request->bytes(), data + done, size - done);
    return queue_write(request);
}

int Stream::write_from(WriteSource& source, size_t size) {
    if (size == 0) {
        return 0;
    }
    if (closing() || shutdown_requested_) {
        return UV_EPIPE;
    }
    // Gathered straight from where the bytes are: no copy, no request.
    constexpr size_t kMaxSpans = 16;
    core::ByteSpan spans[kMaxSpans];
    uv_buf_t bufs[kMaxSpans];
    const size_t count = source.gather(spans, kMaxSpans);
    for (size_t i = 0; i < count; ++i) {
        bufs[i] =
            uv_buf_init(const_cast<char*>(spans[i].data), static_cast<unsigned>(spans[i].size));
    }
    const size_t done = std::min(try_write_now(bufs, count), size);
    source.consume(done);
    size -= done;
    if (size == 0) {
        return 0;
    }
    WriteRequest* request = WriteRequest::create(this, size);
    request->size = source.take(request->bytes(), size);
    if (request->size == 0) {
        WriteRequest::destroy(request);
        return UV_EINVAL;
    }
    return queue_write(request);
}

// A write that the kernel takes at once needs no uv_write: libuv would queue a request, call
// back on the next loop turn and re-arm the descriptor's epoll interest (one epoll_ctl per
// write). Only when nothing is queued, so bytes never overtake earlier ones.
// An error (a reset peer) counts as nothing written: uv_write then meets it and reports it
// through the write callback, the one path every write error takes.
size_t Stream::try_write_now(const uv_buf_t* bufs, size_t count) {
    if (count == 0 || pending_write_bytes_ != 0 ||
        uv_stream_get_write_queue_size(write_stream()) != 0) {
        return 0;
    }
    const int rc = uv_try_write(write_stream(), bufs, static_cast<unsigned>(count));
    return rc > 0 ? static_cast<size_t>(rc) : 0;
}

int Stream::queue_write(WriteRequest* request) {
    uv_buf_t buf = uv_buf_init(request->bytes(), static_cast<unsigned>(request->size));
    const int rc = uv_write(&request->request, write_stream(), &buf, 1, on_write);
    if (rc != 0) {
        WriteRequest::destroy(request);
        return rc;
    }
    pending_write_bytes_ += request->size;
    return 0;
}

bool Stream::has_unread_input() const {
    uv_os_fd_t fd = -1;
    if (closing() || uv_fileno(handle_.as_handle(), &fd) != 0) {
        return false;
    }
    int unread = 0;
    return ioctl(fd, FIONREAD, &unread) == 0 && unread > 0;
}

int Stream::shutdown() {
    if (shutdown_requested_ || closing()) {
        return 0;
    }
    if (connecting_) {
        return UV_ENOTCONN; // the request slot is the connect's until it completes
    }
    shutdown_requested_ = true;
    request_.shutdown = uv_shutdown_t{};
    request_.shutdown.data = this;
    return uv_shutdown(&request_.shutdown, write_stream(), on_shutdown);
}

void Stream::close(bool abortive) {
    if (closing()) {
        return;
    }
    reading_ = false;
    if (split_) {
        write_pipe_->close(); // idempotent: on_shutdown may have closed it already
    }
    // uv_tcp_close_reset cannot follow uv_shutdown; then an ordinary close is all we can do.
    if (abortive && kind_ == Address::Kind::tcp && !shutdown_requested_ && handle_.close_reset()) {
        reset_sent_ = true;
        return;
    }
    handle_.close();
}

std::string Stream::peer_name() const {
    if (kind_ != Address::Kind::tcp) {
        return split_ ? "pipe" : "unix";
    }
    sockaddr_storage address{};
    if (!peer_address(address)) {
        return "unknown";
    }
    return format_socket_address(reinterpret_cast<const sockaddr*>(&address));
}

std::string Stream::local_name() const {
    sockaddr_storage address{};
    if (!local_address(address)) {
        return "unknown";
    }
    return format_socket_address(reinterpret_cast<const sockaddr*>(&address));
}

bool Stream::peer_address(sockaddr_storage& out) const {
    int length = sizeof out;
    return kind_ == Address::Kind::tcp &&
           uv_tcp_getpeername(&handle_.get()->tcp, reinterpret_cast<sockaddr*>(&out), &length) == 0;
}

bool Stream::local_address(sockaddr_storage& out) const {
    int length = sizeof out;
    return kind_ == Address::Kind::tcp &&
           uv_tcp_getsockname(&handle_.get()->tcp, reinterpret_cast<sockaddr*>(&out), &length) == 0;
}

void Stream::on_alloc(uv_handle_t* handle, size_t, uv_buf_t* buf) {
    auto* self = static_cast<Stream*>(handle->data);
    *buf = uv_buf_init(self->buffer_.bytes, ReadBuffer::kSize);
}

void Stream::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
    auto* self = static_cast<Stream*>(stream->data);
    if (nread > 0) {
        self->handler_.on_stream_read(*self, buf->base, static_cast<size_t>(nread));
    } else if (nread == UV_EOF) {
        self->stop_reading();
        self->handler_.on_stream_eof(*self);
    } else if (nread < 0) {
        self->stop_reading();
        self->handler_.on_stream_error(*self, static_cast<int>(nread));
    }
}

void Stream::on_write(uv_write_t* request, int status) {
    auto* owned = reinterpret_cast<WriteRequest*>(request);
    Stream* self = owned->stream;
    const size_t before = self->pending_write_bytes_;
    self->pending_write_bytes_ -= owned->size;
    WriteRequest::destroy(owned);
    if (status == UV_ECANCELED || self->closing()) {
        return;
    }
    if (status < 0) {
        self->handler_.on_stream_error(*self, status);
        return;
    }
    if (before > kLowWater && self->pending_write_bytes_ <= kLowWater) {
        self->handler_.on_stream_drained(*self);
    } else if (self->pending_write_bytes_ == 0) {
        self->handler_.on_stream_drained(*self);
    }
}

void Stream::on_connect(uv_connect_t* request, int status) {
    auto* self = static_cast<Stream*>(request->data);
    self->connecting_ = false;
    if (status == UV_ECANCELED || self->closing()) {
        return;
    }
    self->handler_.on_stream_connected(*self, status);
}

void Stream::on_shutdown(uv_shutdown_t* request, int status) {
    auto* self = static_cast<Stream*>(request->data);
    if (status == UV_ECANCELED || self->closing()) {
        return;
    }
    if (self->split_) {
        // The writes have drained; shutdown(2) failed with ENOTSOCK on the pipe, and only
        // closing it tells the reader at the other end that nothing more comes.
        self->write_pipe_->close();
        status = 0;
    }
    self->handler_.on_stream_shutdown(*self, status);
}

void Stream::on_handle_closed(Handle* handle) {
    static_cast<Stream*>(handle->handle.data)->report_closed_when_released();
}

void Stream::on_write_pipe_closed(uv_pipe_t* pipe) {
    static_cast<Stream*>(pipe->data)->report_closed_when_released();
}

void Stream::report_closed_when_released() {
    if (released()) {
        handler_.on_stream_closed(*this); // may free this object
    }
}

} // namespace tlsgate::net
