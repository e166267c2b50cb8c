#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tlsgate::proto {

// Result of looking for one LF-terminated line at the start of a buffer.
struct LineScan {
    enum class Status { incomplete, complete, overlong };
    Status status = Status::incomplete;
    size_t length = 0; // octets including the terminating LF (complete only)
};

// A line longer than max_length octets (terminator included) is overlong; the caller decides
// what to do with it. Never looks further than max_length octets.
LineScan scan_line(std::string_view buf, size_t max_length);

// The line without its LF and an optional CR before the LF.
std::string_view line_content(std::string_view line);

bool iequals(std::string_view a, std::string_view b);
bool istarts_with(std::string_view s, std::string_view prefix);
std::string to_upper(std::string_view s);

// The first space-separated word of s and what follows the single space after it.
struct Words {
    std::string_view first;
    std::string_view rest;
    bool has_rest = false; // a space followed the first word
};
Words split_first_word(std::string_view s);

// A verb safe for a log line: printable ASCII letters, digits and '-' only, at most 32 chars.
std::string loggable_verb(std::string_view verb);

// Bounded line splitter for the backend direction. Complete lines up to max_line octets are
// returned whole; beyond that the buffered bytes are handed out as pass-through fragments so
// the filter never buffers a backend line without limit.
// Bytes received and not consumed yet. Consuming from the front is O(1) amortised: the
// consumed prefix is dropped only once it is at least half of what is stored, where a string
// erase would move every held byte again for each pipelined command taken off the front.
class InputBuffer {
public:
    void append(std::string_view bytes);
    std::string_view view() const { return std::string_view(buf_).substr(head_); }
    size_t size() const { return buf_.size() - head_; }
    bool empty() const { return size() == 0; }
    char operator[](size_t i) const { return buf_[head_ + i]; }
    // Drops the first `n` bytes (n <= size()).
    void consume(size_t n);
    void clear();

private:
    std::string buf_;
    size_t head_ = 0;
};

class BoundedLines {
public:
    explicit BoundedLines(size_t max_line) : max_line_(max_line) {}

    struct Piece {
        std::string_view text; // valid until the next call on this object
        bool starts_line = false;
        bool ends_line = false;
    };

    void append(std::string_view bytes);
    // Next line or fragment; false when only an incomplete (short) line remains.
    bool next(Piece& piece);
    // Up to n raw octets (literals, data); advances.
    std::string_view take_raw(size_t n);
    // Everything still buffered; empties the buffer.
    std::string take_all();
    size_t size() const { return buf_.size() - pos_; }
    bool empty() const { return size() == 0; }
    bool mid_line() const { return mid_line_; }

private:
    void compact();

    size_t max_line_;
    std::string buf_;
    size_t pos_ = 0;
    bool mid_line_ = false; // the last piece handed out did not end its line
};

} // namespace tlsgate::proto
