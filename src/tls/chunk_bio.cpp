#include "tlsgate/tls/chunk_bio.hpp"

#include <algorithm>
#include <climits>
#include <cstring>

namespace tlsgate::tls {
namespace {

ChunkBioState& state_of(BIO* bio) {
    return *static_cast<ChunkBioState*>(BIO_get_data(bio));
}

int chunk_write(BIO* bio, const char* data, size_t size, size_t* written) {
    BIO_clear_retry_flags(bio);
    state_of(bio).out.append(data, size);
    *written = size;
    return 1;
}

int chunk_read(BIO* bio, char* out, size_t capacity, size_t* read_bytes) {
    BIO_clear_retry_flags(bio);
    ChunkBioState& state = state_of(bio);
    size_t got = state.in.read(out, capacity); // queued bytes are older: they go first
    if (got < capacity && state.lent_size > 0) {
        const size_t n = std::min(capacity - got, state.lent_size);
        std::memcpy(out + got, state.lent, n);
        state.lent += n;
        state.lent_size -= n;
        got += n;
    }
    *read_bytes = got;
    if (*read_bytes > 0) {
        return 1;
    }
    if (!state.eof) {
        BIO_set_retry_read(bio); // "no data yet": OpenSSL reports SSL_ERROR_WANT_READ
    }
    return 0;
}

long chunk_ctrl(BIO* bio, int command, long, void*) {
    ChunkBioState& state = state_of(bio);
    switch (command) {
    case BIO_CTRL_PENDING: {
        const size_t size = state.readable();
        return size > LONG_MAX ? LONG_MAX : static_cast<long>(size);
    }
    case BIO_CTRL_EOF:
        return state.eof && state.readable() == 0 ? 1 : 0;
    case BIO_CTRL_FLUSH:
        return 1;
    case BIO_CTRL_WPENDING:
        return 0; // written bytes are the owner's at once: nothing waits inside the BIO
    default:
        return 0;
    }
}

int chunk_create(BIO* bio) {
    BIO_set_init(bio, 1);
    return 1;
}

int chunk_destroy(BIO* bio) {
    BIO_set_data(bio, nullptr); // the state belongs to the engine
    return 1;
}

// Built once, then only read: a function-local static is initialised thread-safely.
const BIO_METHOD* chunk_method() {
    static BIO_METHOD* method = [] {
        BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "tlsgate chunks");
        if (m != nullptr) {
            BIO_meth_set_write_ex(m, chunk_write);
            BIO_meth_set_read_ex(m, chunk_read);
            BIO_meth_set_ctrl(m, chunk_ctrl);
            BIO_meth_set_create(m, chunk_create);
            BIO_meth_set_destroy(m, chunk_destroy);
        }
        return m;
    }();
    return method;
}

} // namespace

BIO* new_chunk_bio(ChunkBioState& state) {
    const BIO_METHOD* method = chunk_method();
    if (method == nullptr) {
        return nullptr;
    }
    BIO* bio = BIO_new(method);
    if (bio != nullptr) {
        BIO_set_data(bio, &state);
    }
    return bio;
}

} // namespace tlsgate::tls
