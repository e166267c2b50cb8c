#include "tlsgate/proto/idle_tracker.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>

namespace tlsgate::proto {
namespace {

std::string_view trim_line_end(std::string_view line) {
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) {
        line.remove_suffix(1);
    }
    return line;
}

// The n-th space-separated word of a line, upper-cased ("" when there is none).
std::string word(std::string_view line, size_t n) {
    line = trim_line_end(line);
    for (size_t i = 0; i < n; ++i) {
        const size_t space = line.find(' ');
        if (space == std::string_view::npos) {
            return {};
        }
        line.remove_prefix(space + 1);
    }
    std::string out(line.substr(0, line.find(' ')));
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    return out;
}

std::optional<uint64_t> number(std::string_view text) {
    uint64_t value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) {
        return std::nullopt;
    }
    return value;
}

// An IMAP line that announces a literal ends with "{N}" or "{N+}" (also "~{N}").
std::optional<uint64_t> literal_at_end(std::string_view tail) {
    std::string_view line = trim_line_end(tail);
    if (line.empty() || line.back() != '}') {
        return std::nullopt;
    }
    line.remove_suffix(1);
    if (!line.empty() && (line.back() == '+' || line.back() == '-')) {
        line.remove_suffix(1);
    }
    const size_t open = line.rfind('{');
    if (open == std::string_view::npos) {
        return std::nullopt;
    }
    return number(line.substr(open + 1));
}

class ImapTracker final : public IdleTracker {
public:
    void to_backend(std::string_view bytes) override {
        client_.feed(bytes, [this](std::string_view head, std::string_view tail) {
            const bool continued = client_continues_;
            const auto literal = literal_at_end(tail);
            client_continues_ = literal.has_value();
            if (literal) {
                client_.skip(*literal);
            }
            if (continued) {
                continuation_requested_ = false;
                return; // the rest of a command after its literal
            }
            if (continuation_requested_) {
                continuation_requested_ = false;
                return; // an answer to "+ " (a SASL response), not a command
            }
            if (in_idle_ && word(head, 0) == "DONE") {
                idle_done_ = true;
                return;
            }
            ++outstanding_;
            if (word(head, 1) == "IDLE") {
                in_idle_ = true;
                idle_accepted_ = false;
                idle_done_ = false;
            }
        });
    }
    void to_client(std::string_view bytes) override {
        server_.feed(bytes, [this](std::string_view head, std::string_view tail) {
            const bool continued = server_continues_;
            const auto literal = literal_at_end(tail);
            server_continues_ = literal.has_value();
            if (literal) {
                server_.skip(*literal);
            }
            if (continued) {
                return;
            }
            const std::string first = word(head, 0);
            if (first == "+") {
                // A continuation request: the client's next line answers it (IDLE's "+" asks
                // for nothing but DONE).
                continuation_requested_ = !in_idle_ && !client_.mid();
                idle_accepted_ = in_idle_;
                return;
            }
            if (first == "*" || first.empty()) {
                return;
            }
            // A tagged reply completes a command (IDLE's too).
            outstanding_ = outstanding_ > 0 ? outstanding_ - 1 : 0;
            if (outstanding_ == 0) {
                in_idle_ = false;
                idle_accepted_ = false;
                idle_done_ = false;
            }
        });
    }
    bool between_commands() const override {
        if (client_.mid() || server_.mid() || client_continues_ || server_continues_) {
            return false;
        }
        return outstanding_ == 0 ||
               (outstanding_ == 1 && in_idle_ && idle_accepted_ && !idle_done_);
    }
    std::string goodbye() const override { return "* BYE Server shutting down.\r\n"; }

private:
    LineFollower client_;
    LineFollower server_;
    bool client_continues_ = false;
    bool server_continues_ = false;
    bool continuation_requested_ = false;
    uint64_t outstanding_ = 0;
    bool in_idle_ = false;       // IDLE sent, its tagged reply not yet seen
    bool idle_accepted_ = false; // the server's "+" to IDLE seen
    bool idle_done_ = false;     // DONE sent
};

class SmtpTracker final : public IdleTracker {
public:
    void to_backend(std::string_view bytes) override {
        client_.feed(bytes, [this](std::string_view head, std::string_view) {
            if (in_body_) {
                if (trim_line_end(head) == ".") {
                    in_body_ = false;
                    ++outstanding_; // the reply to the whole message
                }
                return;
            }
            ++outstanding_;
            if (word(head, 0) == "BDAT") {
                if (auto size = number(word(head, 1))) {
                    client_.skip(*size);
                }
            }
        });
    }
    void to_client(std::string_view bytes) override {
        server_.feed(bytes, [this](std::string_view head, std::string_view) {
            const std::string_view line = trim_line_end(head);
            const bool final_line = line.size() == 3 || (line.size() > 3 && line[3] == ' ');
            if (!final_line) {
                return; // "250-" continues
            }
            outstanding_ = outstanding_ > 0 ? outstanding_ - 1 : 0;
            if (line.substr(0, 3) == "354") {
                in_body_ = true;
            }
        });
    }
    bool between_commands() const override {
        return !client_.mid() && !server_.mid() && !in_body_ && outstanding_ == 0;
    }
    std::string goodbye() const override {
        return "421 4.3.2 Service shutting down, closing transmission channel\r\n";
    }

private:
    LineFollower client_;
    LineFollower server_;
    uint64_t outstanding_ = 0;
    bool in_body_ = false;
};

class Pop3Tracker final : public IdleTracker {
public:
    void to_backend(std::string_view bytes) override {
        client_.feed(bytes, [this](std::string_view head, std::string_view) {
            const std::string verb = word(head, 0);
            const bool has_argument = !word(head, 1).empty();
            const bool multi_line = verb == "RETR" || verb == "TOP" || verb == "CAPA" ||
                                    ((verb == "LIST" || verb == "UIDL") && !has_argument);
            expected_.push_back(multi_line);
        });
    }
    void to_client(std::string_view bytes) override {
        server_.feed(bytes, [this](std::string_view head, std::string_view) {
            if (in_body_) {
                if (trim_line_end(head) == ".") {
                    in_body_ = false;
                    expected_.pop_front();
                }
                return;
            }
            if (expected_.empty()) {
                return; // the greeting
            }
            if (expected_.front() && head.substr(0, 3) == "+OK") {
                in_body_ = true;
                return;
            }
            expected_.pop_front();
        });
    }
    bool between_commands() const override {
        return !client_.mid() && !server_.mid() && !in_body_ && expected_.empty();
    }
    std::string goodbye() const override { return {}; }

private:
    LineFollower client_;
    LineFollower server_;
    std::deque<bool> expected_; // per command sent: is its reply multi-line when +OK
    bool in_body_ = false;
};

} // namespace

std::unique_ptr<IdleTracker> IdleTracker::make(config::Protocol protocol) {
    switch (protocol) {
    case config::Protocol::imap:
        return std::make_unique<ImapTracker>();
    case config::Protocol::smtp:
        return std::make_unique<SmtpTracker>();
    case config::Protocol::pop3:
        return std::make_unique<Pop3Tracker>();
    default:
        return nullptr;
    }
}

} // namespace tlsgate::proto
