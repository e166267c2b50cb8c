#include "tlsgate/core/chunk_pool.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <string>

using tlsgate::core::ChunkPool;
using tlsgate::core::ChunkQueue;

namespace {

std::string pattern(size_t size) {
    std::string s(size, '\0');
    for (size_t i = 0; i < size; ++i) {
        s[i] = static_cast<char>('a' + (i * 7) % 26);
    }
    return s;
}

} // namespace

TEST_CASE("chunk queue keeps bytes in order across chunk boundaries") {
    ChunkPool pool;
    ChunkQueue queue(&pool);
    const std::string data = pattern(3 * ChunkPool::kChunkBytes + 123);
    // Appends and reads in odd sizes that straddle chunk ends.
    size_t fed = 0;
    std::string out;
    char buffer[5000];
    while (out.size() < data.size()) {
        if (fed < data.size()) {
            const size_t n = std::min<size_t>(7001, data.size() - fed);
            queue.append(data.data() + fed, n);
            fed += n;
        }
        const size_t got = queue.read(buffer, sizeof buffer);
        out.append(buffer, got);
        CHECK(queue.size() == fed - out.size());
    }
    CHECK(out == data);
    CHECK(queue.empty());
}

TEST_CASE("an empty queue holds no chunk; the pool recycles them") {
    ChunkPool pool(2);
    {
        ChunkQueue queue(&pool);
        const std::string data = pattern(ChunkPool::kChunkBytes * 2 + 1);
        queue.append(data.data(), data.size());
        CHECK(pool.chunks_in_use() == 3);
        std::string sink(data.size(), '\0');
        CHECK(queue.read(sink.data(), ChunkPool::kChunkBytes) == ChunkPool::kChunkBytes);
        CHECK(pool.chunks_in_use() == 2);
        CHECK(pool.free_chunks() == 1);
        CHECK(queue.read(sink.data(), sink.size()) == ChunkPool::kChunkBytes + 1);
        CHECK(pool.chunks_in_use() == 0);
        CHECK(pool.free_chunks() == 2); // capped at max_free
        queue.append("x", 1);
        CHECK(pool.free_chunks() == 1); // reused, not allocated
    }
    // The queue's destructor returns what it still held.
    CHECK(pool.chunks_in_use() == 0);
    CHECK(pool.free_chunks() == 2);
}

TEST_CASE("a queue without a pool allocates and frees chunks itself") {
    ChunkQueue queue(nullptr);
    queue.append("hello", 5);
    char out[8] = {};
    CHECK(queue.read(out, sizeof out) == 5);
    CHECK(std::string(out, 5) == "hello");
    CHECK(queue.read(out, sizeof out) == 0);
}

// Gathered writes: the spans are the queue's bytes in order, and consuming part of them (a
// partial writev) leaves exactly the rest, returning emptied chunks to the pool.
TEST_CASE("chunk queue gathers its bytes without copying and consumes any prefix") {
    ChunkPool pool;
    const std::string data = pattern(2 * ChunkPool::kChunkBytes + 777);
    for (size_t cut : {size_t{0}, size_t{1}, ChunkPool::kChunkBytes - 1, ChunkPool::kChunkBytes,
                       ChunkPool::kChunkBytes + 5, data.size() - 1, data.size()}) {
        ChunkQueue queue(&pool);
        queue.append(data.data(), 100); // read partly, so the head chunk starts mid-way
        char skip[40];
        REQUIRE(queue.read(skip, sizeof skip) == sizeof skip);
        queue.append(data.data() + 100, data.size() - 100);
        const std::string held = data.substr(sizeof skip);

        tlsgate::core::ByteSpan spans[8];
        const size_t count = queue.gather(spans, 8);
        std::string gathered;
        for (size_t i = 0; i < count; ++i) {
            gathered.append(spans[i].data, spans[i].size);
        }
        CHECK(gathered == held);
        CHECK(queue.gather(spans, 1) == 1);
        CHECK(spans[0].size == ChunkPool::kChunkBytes - sizeof skip);

        const size_t consumed = std::min(cut, held.size());
        queue.consume(consumed);
        CHECK(queue.size() == held.size() - consumed);
        std::string rest(queue.size(), '\0');
        CHECK(queue.read(rest.data(), rest.size()) == rest.size());
        INFO("consumed " << consumed);
        CHECK(rest == held.substr(consumed));
        CHECK(queue.empty());
        CHECK(pool.chunks_in_use() == 0);
    }
}
