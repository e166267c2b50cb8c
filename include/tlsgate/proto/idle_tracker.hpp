#pragma once

#include "tlsgate/config/model.hpp"

#include <algorithm>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>

namespace tlsgate::proto {

// Follows a mail dialogue as it is relayed (the bytes the session sends to the backend and to
// the client, after any filter) to tell when the session is between commands, so that a
// drain may end it at once with the protocol's goodbye instead of waiting for the client.
//
// The rule: the session is between commands when
//  - neither direction stops inside a line or inside an IMAP literal / SMTP BDAT chunk, and
//  - every command sent to the backend has had its final reply: IMAP a tagged reply, SMTP a
//    final reply line ("250 ", not "250-"), also the end of a DATA body after its 354 (the body
//    itself counts as in the middle of a command), POP3 "+OK"/"-ERR" and, for RETR, TOP,
//    CAPA and LIST/UIDL without argument, the multi-line body up to its "." line; or
//  - (IMAP) the only command outstanding is IDLE, the server has answered it with "+" and
//    the client has not sent DONE yet.
// A pure state machine: it never touches a socket.
class IdleTracker {
public:
    virtual ~IdleTracker() = default;

    virtual void to_backend(std::string_view bytes) = 0;
    virtual void to_client(std::string_view bytes) = 0;
    virtual bool between_commands() const = 0;
    // What the client is told before the close: IMAP "* BYE ...", SMTP "421 4.3.2 ...";
    // empty for POP3, which has no unsolicited reply and is simply closed between commands.
    virtual std::string goodbye() const = 0;

    // nullptr for Protocol::raw.
    static std::unique_ptr<IdleTracker> make(config::Protocol protocol);
};

// One direction of a line protocol: complete lines, with counted chunks to skip (an IMAP
// literal, an SMTP BDAT chunk) announced by the owner. Keeps only the start and the end of
// a line: that is all any protocol rule above looks at.
class LineFollower {
public:
    static constexpr size_t kKeep = 64;
    // Calls on_line(head, tail) for each complete line (CRLF or LF included in both; head is
    // the first kKeep bytes, tail the last kKeep bytes).
    template <typename OnLine> void feed(std::string_view bytes, OnLine&& on_line);
    void skip(uint64_t count) { skip_ = count; }
    // Inside a line or a skipped chunk.
    bool mid() const { return skip_ > 0 || length_ > 0; }

private:
    std::string head_;
    std::string tail_;
    uint64_t length_ = 0;
    uint64_t skip_ = 0;
};

template <typename OnLine> void LineFollower::feed(std::string_view bytes, OnLine&& on_line) {
    while (!bytes.empty()) {
        if (skip_ > 0) {
            const size_t n = static_cast<size_t>(std::min<uint64_t>(skip_, bytes.size()));
            skip_ -= n;
            bytes.remove_prefix(n);
            continue;
        }
        const size_t end = bytes.find('\n');
        const std::string_view piece =
            bytes.substr(0, end == std::string_view::npos ? end : end + 1);
        bytes.remove_prefix(piece.size());
        if (head_.size() < kKeep) {
            head_ += piece.substr(0, kKeep - head_.size());
        }
        // Only the last kKeep bytes matter: a long piece is not copied whole.
        if (piece.size() >= kKeep) {
            tail_.assign(piece.substr(piece.size() - kKeep));
        } else {
            tail_ += piece;
            if (tail_.size() > kKeep) {
                tail_.erase(0, tail_.size() - kKeep);
            }
        }
        length_ += piece.size();
        if (end != std::string_view::npos) {
            length_ = 0;
            // The callback may call skip() on this follower, nothing else; the buffers keep
            // their capacity for the next line.
            on_line(std::string_view(head_), std::string_view(tail_));
            head_.clear();
            tail_.clear();
        }
    }
}

} // namespace tlsgate::proto
