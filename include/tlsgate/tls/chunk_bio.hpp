#pragma once

#include "tlsgate/core/chunk_pool.hpp"

#include <openssl/bio.h>

namespace tlsgate::tls {

// What a chunk BIO reads from or writes to. Owned by the TLS engine, outliving the BIO.
struct ChunkBioState {
    explicit ChunkBioState(core::ChunkPool* pool) : queue(pool) {}
    core::ChunkQueue queue;
    bool eof = false; // reads: an empty queue means end of stream, not "no data yet"
};

// A source/sink BIO over a ChunkQueue: like a memory BIO, but its bytes live in pooled
// chunks that go back to the worker's pool as soon as they are consumed, so an idle
// connection keeps no buffer at all. Returns null on allocation failure.
BIO* new_chunk_bio(ChunkBioState& state);

} // namespace tlsgate::tls
