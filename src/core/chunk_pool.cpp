#include "tlsgate/core/chunk_pool.hpp"

#include <algorithm>
#include <cstring>

namespace tlsgate::core {

ChunkPool::~ChunkPool() {
    while (free_ != nullptr) {
        Chunk* next = free_->next;
        delete free_;
        free_ = next;
    }
}

ChunkPool::Chunk* ChunkPool::take() {
    in_use_++;
    if (free_ == nullptr) {
        return new Chunk;
    }
    Chunk* chunk = free_;
    free_ = chunk->next;
    free_count_--;
    chunk->next = nullptr;
    chunk->begin = chunk->end = 0;
    return chunk;
}

void ChunkPool::give(Chunk* chunk) {
    in_use_--;
    if (free_count_ >= max_free_) {
        delete chunk;
        return;
    }
    chunk->next = free_;
    free_ = chunk;
    free_count_++;
}

ChunkPool::Chunk* ChunkQueue::new_chunk() {
    if (pool_ != nullptr) {
        return pool_->take();
    }
    return new ChunkPool::Chunk;
}

void ChunkQueue::release(ChunkPool::Chunk* chunk) {
    if (pool_ != nullptr) {
        pool_->give(chunk);
    } else {
        delete chunk;
    }
}

void ChunkQueue::append(const char* data, size_t size) {
    size_ += size;
    while (size > 0) {
        if (tail_ == nullptr || tail_->end == ChunkPool::kChunkBytes) {
            ChunkPool::Chunk* chunk = new_chunk();
            if (tail_ == nullptr) {
                head_ = tail_ = chunk;
            } else {
                tail_->next = chunk;
                tail_ = chunk;
            }
        }
        const size_t n = std::min(size, ChunkPool::kChunkBytes - tail_->end);
        std::memcpy(tail_->data + tail_->end, data, n);
        tail_->end += n;
        data += n;
        size -= n;
    }
}

size_t ChunkQueue::read(char* out, size_t capacity) {
    size_t copied = 0;
    for (const ChunkPool::Chunk* chunk = head_; chunk != nullptr && copied < capacity;
         chunk = chunk->next) {
        const size_t n = std::min(capacity - copied, chunk->end - chunk->begin);
        std::memcpy(out + copied, chunk->data + chunk->begin, n);
        copied += n;
    }
    consume(copied);
    return copied;
}

size_t ChunkQueue::gather(ByteSpan* spans, size_t max) const {
    size_t count = 0;
    for (const ChunkPool::Chunk* chunk = head_; chunk != nullptr && count < max;
         chunk = chunk->next) {
        if (chunk->end > chunk->begin) {
            spans[count++] = {chunk->data + chunk->begin, chunk->end - chunk->begin};
        }
    }
    return count;
}

void ChunkQueue::consume(size_t size) {
    size = std::min(size, size_);
    size_ -= size;
    while (size > 0 && head_ != nullptr) {
        const size_t n = std::min(size, head_->end - head_->begin);
        head_->begin += n;
        size -= n;
        if (head_->begin == head_->end) {
            ChunkPool::Chunk* done = head_;
            head_ = done->next;
            if (head_ == nullptr) {
                tail_ = nullptr;
            }
            release(done);
        }
    }
}

void ChunkQueue::clear() {
    while (head_ != nullptr) {
        ChunkPool::Chunk* next = head_->next;
        release(head_);
        head_ = next;
    }
    tail_ = nullptr;
    size_ = 0;
}

} // namespace tlsgate::core
