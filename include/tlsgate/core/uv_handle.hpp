#pragma once

#include <cassert>
#include <cstring>
#include <memory>
#include <type_traits>
#include <uv.h>

namespace tlsgate::core {

// The one owner of a libuv handle (uv_timer_t, uv_async_t, uv_signal_t, uv_tcp_t, uv_pipe_t,
// uv_process_t, or a union of handle types). libuv keeps a pointer to the handle from its
// init until its close callback ran, so the handle's memory must outlive that callback. Two
// ways to make sure of it:
//
//  - A member of its owner, when the owner lives until the close callback ran: the owner asks
//    released() (or passes an on_closed callback) before it frees itself. Destroying one that
//    libuv still holds is a bug (asserted in debug builds).
//
//        core::UvHandle<uv_timer_t> timer_{this, on_timer_closed};
//        timer_.open([&](uv_timer_t* h) { return uv_timer_init(loop, h); });
//        ...
//        timer_.close(); // idempotent; on_timer_closed(timer_.get()) runs once, later
//
//  - On the heap (HeapUvHandle, make_heap_uv_handle), when the owner may go first: dropping
//    the owning pointer closes the handle, and its close callback frees the memory.
//
// The uv struct lives inside this object (which is therefore neither copyable nor movable) and
// its `data` is the owner, set once at construction: callbacks find their owner the usual
// way, `static_cast<Owner*>(handle->data)`.
template <typename T> class UvHandle {
public:
    // Runs once, when libuv has released the handle (its close callback); the owner may free
    // this object from inside it.
    using ClosedCallback = void (*)(T* handle);

    explicit UvHandle(void* owner, ClosedCallback on_closed = nullptr) : on_closed_(on_closed) {
        std::memset(&handle_, 0, sizeof handle_);
        as_handle()->data = owner;
    }
    UvHandle(const UvHandle&) = delete;
    UvHandle& operator=(const UvHandle&) = delete;
    ~UvHandle() { assert(released() && "a uv handle freed while libuv still holds it"); }

    // Initialises the handle with `init` (uv_timer_init, uv_tcp_init_ex, uv_spawn...), which
    // gets the handle and returns a uv error code, returned here. Allowed on a handle never
    // opened or whose close callback ran (a fresh handle, possibly of another type in a
    // union). Whatever libuv registered in its loop counts as open and must be closed, even
    // when `init` failed after registering it (uv_spawn does).
    template <typename Init> [[nodiscard]] int open(Init&& init) {
        assert(released());
        void* owner = as_handle()->data;
        std::memset(&handle_, 0, sizeof handle_);
        as_handle()->data = owner;
        const int rc = init(&handle_);
        if (as_handle()->type != UV_UNKNOWN_HANDLE) {
            state_ = State::open;
        }
        return rc;
    }

    // Idempotent: closes an open handle; nothing to do for one that is closing, closed or was
    // never opened.
    void close() {
        if (state_ == State::open) {
            state_ = State::closing;
            uv_close(as_handle(), on_close);
        }
    }
    // TCP only: close with a RST instead of a FIN. False (the handle stays open) when libuv
    // refuses, e.g. after a shutdown or on a handle that is not open.
    [[nodiscard]] bool close_reset() {
        if (state_ != State::open || as_handle()->type != UV_TCP) {
            return false;
        }
        if (uv_tcp_close_reset(reinterpret_cast<uv_tcp_t*>(&handle_), on_close) != 0) {
            return false;
        }
        state_ = State::closing;
        return true;
    }

    bool is_open() const { return state_ == State::open; }
    // close() was called (the close callback may or may not have run yet).
    bool closing() const { return state_ == State::closing || state_ == State::closed; }
    // libuv does not hold the handle: never opened, or its close callback ran. Only then may
    // the memory go.
    bool released() const { return state_ == State::unused || state_ == State::closed; }

    T* get() { return &handle_; }
    const T* get() const { return &handle_; }
    uv_handle_t* as_handle() { return reinterpret_cast<uv_handle_t*>(&handle_); }
    const uv_handle_t* as_handle() const { return reinterpret_cast<const uv_handle_t*>(&handle_); }
    uv_loop_t* loop() const { return as_handle()->loop; }

    // For a handle made by make_heap_uv_handle only (HeapUvHandle calls it): closes the handle
    // if it is open and frees this object once libuv has released it (at once when it does
    // not hold it). The owner hears nothing more.
    void close_and_free() {
        assert(on_heap_);
        on_closed_ = nullptr;
        as_handle()->data = nullptr;
        free_on_close_ = true;
        close();
        if (released()) {
            delete this;
        }
    }

    // make_heap_uv_handle's work (it alone may set on_heap_).
    static std::unique_ptr<UvHandle, void (*)(UvHandle*)> make_on_heap(void* owner,
                                                                       ClosedCallback on_closed) {
        auto* handle = new UvHandle(owner, on_closed);
        handle->on_heap_ = true;
        return {handle, [](UvHandle* h) { h->close_and_free(); }};
    }

private:
    enum class State : unsigned char { unused, open, closing, closed };

    static void on_close(uv_handle_t* handle) {
        static_assert(std::is_standard_layout_v<UvHandle>, "the uv struct must come first");
        auto* self = reinterpret_cast<UvHandle*>(handle);
        self->state_ = State::closed;
        if (self->free_on_close_) {
            delete self;
            return;
        }
        if (self->on_closed_ != nullptr) {
            self->on_closed_(&self->handle_); // may free this object: nothing after it
        }
    }

    T handle_; // first: the close callback finds this object from the handle's address
    ClosedCallback on_closed_;
    State state_ = State::unused;
    bool on_heap_ = false;
    bool free_on_close_ = false;
};

// A heap handle whose owner may go away before libuv releases it: dropping the pointer
// closes the handle, and the handle frees itself in its close callback.
template <typename T> using HeapUvHandle = std::unique_ptr<UvHandle<T>, void (*)(UvHandle<T>*)>;

template <typename T>
HeapUvHandle<T> make_heap_uv_handle(void* owner,
                                    typename UvHandle<T>::ClosedCallback on_closed = nullptr) {
    return UvHandle<T>::make_on_heap(owner, on_closed);
}

} // namespace tlsgate::core
