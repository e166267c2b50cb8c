#include "tlsgate/log/rate_limit.hpp"

#include <algorithm>
#include <functional>

namespace tlsgate::log {

SourceRateLimiter::SourceRateLimiter(size_t slots, uint32_t lines_per_window, int64_t window_ms)
    : slots_(std::max(slots, kWays)), lines_per_window_(lines_per_window), window_ms_(window_ms) {}

SourceRateLimiter::Decision SourceRateLimiter::check(std::string_view source, int64_t now_ms) {
    source = source.substr(0, kSourceMax);
    const size_t first = std::hash<std::string_view>{}(source) % slots_.size();
    std::lock_guard lock(mutex_);
    // The source's slot among its ways, else the free or least recently used one.
    Slot* slot = nullptr;
    Slot* oldest = nullptr;
    for (size_t way = 0; way < kWays; ++way) {
        Slot& candidate = slots_[(first + way) % slots_.size()];
        if (candidate.length == source.size() &&
            std::string_view(candidate.source.data(), candidate.length) == source) {
            slot = &candidate;
            break;
        }
        if (!oldest || candidate.length == 0 ||
            (oldest->length != 0 && candidate.last_seen_ms < oldest->last_seen_ms)) {
            oldest = &candidate;
        }
    }
    if (!slot) {
        slot = oldest;
        *slot = Slot{};
        std::copy(source.begin(), source.end(), slot->source.begin());
        slot->length = static_cast<uint8_t>(source.size());
        slot->window_start_ms = now_ms;
    }
    slot->last_seen_ms = now_ms;
    if (now_ms - slot->window_start_ms >= window_ms_) {
        slot->window_start_ms = now_ms;
        slot->lines = 0;
    }
    Decision decision;
    if (slot->lines >= lines_per_window_) {
        slot->suppressed++;
        decision.verdict = Decision::Verdict::suppress;
        return decision;
    }
    slot->lines++;
    decision.suppressed_before = slot->suppressed;
    slot->suppressed = 0;
    decision.verdict =
        slot->lines == lines_per_window_ ? Decision::Verdict::log_and_mute : Decision::Verdict::log;
    return decision;
}

std::string_view source_of(std::string_view peer) {
    if (peer.starts_with('[')) {
        const size_t close = peer.find(']');
        return close == std::string_view::npos ? peer : peer.substr(1, close - 1);
    }
    const size_t colon = peer.rfind(':');
    if (colon == std::string_view::npos || peer.find(':') != colon) {
        return peer; // no port, or an IPv6 address without brackets
    }
    return peer.substr(0, colon);
}

} // namespace tlsgate::log
