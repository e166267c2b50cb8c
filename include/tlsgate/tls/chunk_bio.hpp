#pragma once

#include "tlsgate/core/chunk_pool.hpp"

#include <openssl/bio.h>

namespace tlsgate::tls {

// What a chunk BIO reads from and writes to. Owned by the TLS engine, outliving the BIO.
struct ChunkBioState {
    explicit ChunkBioState(core::ChunkPool* pool) : in(pool), out(pool) {}
    core::ChunkQueue in;  // ciphertext from the peer, not yet decrypted: what the BIO reads
    core::ChunkQueue out; // ciphertext for the peer, not yet taken: what the BIO writes
    bool eof = false;     // reads: an empty `in` means end of stream, not "no data yet"
    // Bytes lent for the duration of one call (TlsEngine::Loan): read after `in`, straight
    // from the caller's buffer, without first being copied into a chunk.
    const char* lent = nullptr;
    size_t lent_size = 0;
    size_t readable() const { return in.size() + lent_size; }
    // Queues the lent bytes OpenSSL did not take, and forgets the loan: the lender reuses its
    // buffer once the loan ends.
    void keep_lent() {
        in.append(lent, lent_size);
        lent = nullptr;
        lent_size = 0;
    }
};

// One source/sink BIO for both directions of a connection (SSL_set_bio(ssl, bio, bio)): like
// a pair of memory BIOs, but its bytes live in pooled chunks that go back to the worker's
// pool as soon as they are consumed, so an idle connection keeps no buffer at all. One BIO
// rather than two saves a BIO object and its lock per connection. Returns null on allocation
// failure.
BIO* new_chunk_bio(ChunkBioState& state);

} // namespace tlsgate::tls
