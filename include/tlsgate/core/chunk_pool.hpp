#pragma once

#include <cstddef>

namespace tlsgate::core {

// Fixed-size byte chunks recycled by one worker thread. TLS ciphertext passes through them:
// steady traffic reuses chunks instead of allocating per read, and an idle connection holds
// none. Not thread-safe: one pool per worker loop.
class ChunkPool {
public:
    static constexpr size_t kChunkBytes = 16 * 1024;

    struct Chunk {
        Chunk* next = nullptr;
        size_t begin = 0; // first unread byte
        size_t end = 0;   // one past the last written byte
        char data[kChunkBytes];
    };

    // Keeps at most `max_free` idle chunks (the rest go back to malloc): the pool's memory is
    // bounded by its busiest moment, capped.
    explicit ChunkPool(size_t max_free = 256) : max_free_(max_free) {}
    ChunkPool(const ChunkPool&) = delete;
    ChunkPool& operator=(const ChunkPool&) = delete;
    ~ChunkPool();

    Chunk* take();
    void give(Chunk* chunk);

    size_t free_chunks() const { return free_count_; }
    size_t chunks_in_use() const { return in_use_; }

private:
    Chunk* free_ = nullptr;
    size_t free_count_ = 0;
    size_t max_free_;
    size_t in_use_ = 0;
};

// A run of bytes that lives somewhere else (a chunk), for gathered writes.
struct ByteSpan {
    const char* data;
    size_t size;
};

// A FIFO of bytes stored in chunks from a pool (or from malloc when the pool is null, for
// engines used outside a worker, e.g. in tests).
class ChunkQueue {
public:
    explicit ChunkQueue(ChunkPool* pool) : pool_(pool) {}
    ChunkQueue(const ChunkQueue&) = delete;
    ChunkQueue& operator=(const ChunkQueue&) = delete;
    ~ChunkQueue() { clear(); }

    void append(const char* data, size_t size);
    // Copies up to `capacity` bytes out and drops them from the queue.
    size_t read(char* out, size_t capacity);
    // Points `spans` at the first bytes, in order, without copying (at most `max` spans);
    // returns how many it filled. Valid until the queue is next changed.
    size_t gather(ByteSpan* spans, size_t max) const;
    // Drops the first `size` bytes (at most size()).
    void consume(size_t size);
    size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    void clear();

private:
    ChunkPool::Chunk* new_chunk();
    void release(ChunkPool::Chunk* chunk);

    ChunkPool* pool_;
    ChunkPool::Chunk* head_ = nullptr;
    ChunkPool::Chunk* tail_ = nullptr;
    size_t size_ = 0;
};

} // namespace tlsgate::core
