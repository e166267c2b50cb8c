#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace tlsgate::log {

// How many lines one source (a client IP) may cause per window, for lines an attacker can
// make at will (failed handshakes): past the limit they are counted, not written, and the
// count is reported once the source is heard from again in a later window. The table has a
// fixed number of slots (memory does not grow with the number of sources): a source maps to
// a few slots by hash, and a new one takes the least recently used of them, so under a flood
// of sources the ones forgotten are the quiet ones. Thread-safe.
class SourceRateLimiter {
public:
    SourceRateLimiter(size_t slots, uint32_t lines_per_window, int64_t window_ms);

    struct Decision {
        enum class Verdict {
            log,          // write the line
            log_and_mute, // write it and say that further lines are suppressed this window
            suppress,     // count it, write nothing
        };
        Verdict verdict = Verdict::log;
        // With a line written: how many were suppressed in the source's previous window(s)
        // (0: none), to say on that line.
        uint64_t suppressed_before = 0;
    };
    Decision check(std::string_view source, int64_t now_ms);

    size_t slots() const { return slots_.size(); }

private:
    static constexpr size_t kSourceMax = 46; // an IPv6 address with a zone fits
    static constexpr size_t kWays = 4;       // slots a source may occupy
    struct Slot {
        std::array<char, kSourceMax> source{};
        uint8_t length = 0; // 0: free
        int64_t window_start_ms = 0;
        int64_t last_seen_ms = 0;
        uint32_t lines = 0;      // lines this window
        uint64_t suppressed = 0; // since the last line written
    };
    std::mutex mutex_;
    std::vector<Slot> slots_;
    uint32_t lines_per_window_;
    int64_t window_ms_;
};

// The address part of "192.0.2.7:51234" or "[2001:db8::1]:51234" (what a client is known by
// across its connections); anything else ("unix", "pipe") as it is.
std::string_view source_of(std::string_view peer);

} // namespace tlsgate::log
