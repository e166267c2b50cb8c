#include "tlsgate/proto/line_buffer.hpp"

#include <algorithm>
#include <cstring>

namespace tlsgate::proto {

namespace {
char upper(char c) {
    return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}
} // namespace

LineScan scan_line(std::string_view buf, size_t max_length) {
    LineScan r;
    size_t look = std::min(buf.size(), max_length);
    const void* lf = look ? std::memchr(buf.data(), '\n', look) : nullptr;
    if (lf) {
        r.status = LineScan::Status::complete;
        r.length = static_cast<size_t>(static_cast<const char*>(lf) - buf.data()) + 1;
    } else if (buf.size() >= max_length) {
        r.status = LineScan::Status::overlong;
    }
    return r;
}

std::string_view line_content(std::string_view line) {
    if (!line.empty() && line.back() == '\n') {
        line.remove_suffix(1);
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
    }
    return line;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (size_t i = 0; i < a.size(); ++i) {
        if (upper(a[i]) != upper(b[i])) {
            return false;
        }
    }
    return true;
}

bool istarts_with(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

std::string to_upper(std::string_view s) {
    std::string r(s);
    for (auto& c : r) {
        c = upper(c);
    }
    return r;
}

Words split_first_word(std::string_view s) {
    Words w;
    auto sp = s.find(' ');
    if (sp == std::string_view::npos) {
        w.first = s;
    } else {
        w.first = s.substr(0, sp);
        w.rest = s.substr(sp + 1);
        w.has_rest = true;
    }
    return w;
}

std::string loggable_verb(std::string_view verb) {
    std::string r;
    for (char c : verb.substr(0, 32)) {
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_';
        r.push_back(ok ? upper(c) : '?');
    }
    return r.empty() ? std::string("(empty)") : r;
}

void InputBuffer::append(std::string_view bytes) {
    if (head_ > 0 && head_ * 2 >= buf_.size()) {
        buf_.erase(0, head_);
        head_ = 0;
    }
    buf_.append(bytes);
}

void InputBuffer::consume(size_t n) {
    head_ += std::min(n, size());
    if (head_ == buf_.size()) {
        clear();
    }
}

void InputBuffer::clear() {
    buf_.clear();
    head_ = 0;
}

void BoundedLines::append(std::string_view bytes) {
    compact();
    buf_.append(bytes);
}

void BoundedLines::compact() {
    if (pos_ > 0 && (pos_ == buf_.size() || pos_ >= 4096)) {
        buf_.erase(0, pos_);
        pos_ = 0;
    }
}

bool BoundedLines::next(Piece& piece) {
    std::string_view rest(buf_.data() + pos_, buf_.size() - pos_);
    if (rest.empty()) {
        return false;
    }
    LineScan scan = scan_line(rest, max_line_);
    piece.starts_line = !mid_line_;
    if (scan.status == LineScan::Status::complete) {
        piece.text = rest.substr(0, scan.length);
        piece.ends_line = true;
        mid_line_ = false;
        pos_ += scan.length;
        return true;
    }
    if (scan.status == LineScan::Status::overlong || mid_line_) {
        // Overlong: hand out its first max_line octets (never a whole line), then keep
        // passing through up to the LF.
        if (!mid_line_) {
            piece.text = rest.substr(0, max_line_);
            piece.ends_line = false;
            mid_line_ = true;
            pos_ += piece.text.size();
            return true;
        }
        auto lf = rest.find('\n');
        piece.ends_line = lf != std::string_view::npos;
        piece.text = piece.ends_line ? rest.substr(0, lf + 1) : rest;
        mid_line_ = !piece.ends_line;
        pos_ += piece.text.size();
        return true;
    }
    return false;
}

std::string_view BoundedLines::take_raw(size_t n) {
    size_t avail = buf_.size() - pos_;
    size_t k = std::min(n, avail);
    std::string_view r(buf_.data() + pos_, k);
    pos_ += k;
    return r;
}

std::string BoundedLines::take_all() {
    std::string r = buf_.substr(pos_);
    buf_.clear();
    pos_ = 0;
    mid_line_ = false;
    return r;
}

} // namespace tlsgate::proto
