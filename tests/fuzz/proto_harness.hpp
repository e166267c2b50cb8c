#pragma once

// Shared libFuzzer harness for the protocol filters (fuzz_imap, fuzz_pop3, fuzz_smtp).
//
// The fuzz input is a small byte-coded script (see README.md, "Script format"):
//   byte 0     settings: bit 0 tls_active_from_start, bit 1 starttls_policy may (else
//              encrypt), bit 2 auth_requires_tls=false, bits 3-4 max_line
//              {8192, 512, 1024, 65536}, bits 5-7 max_errors 1..7, 0 selecting 1000000
//              (values the config loader accepts: max_line 512..1048576, max_errors >= 1)
//   then events, opcode = byte % 8:
//     0 client raw      <len:1> <len bytes>
//     1 backend raw     <len:1> <len bytes>
//     2 client canned   <index:1>  (a realistic command line, per protocol)
//     3 backend canned  <index:1>  (a realistic server reply; may name the oldest tag)
//     4 TLS established (only delivered while a start_tls is outstanding, as the session)
//   Backend bytes beyond 64 KiB between start_tls and TLS established are not delivered:
//   the session stops reading the backend during the handshake.
//     5 client flood    <k:1> <c:1>  ((k % 80 + 1) KiB of octet c, plus a LF when k >= 128)
//     6 backend flood   <k:1> <c:1>  (same towards the filter's backend side)
//     7 client raw      <len:2 big-endian> <len bytes>
// Input is truncated silently when it runs out. The script stops after a close.
//
// Invariants checked after every event (a violation prints a message and aborts):
//   A. No authentication command reaches the backend before TLS (while auth_requires_tls and
//      TLS is not active). The bytes sent to the backend are split into lines and the verb of
//      each line is checked (IMAP: the 2nd token, LOGIN/AUTHENTICATE; POP3: USER/PASS/APOP/
//      AUTH; SMTP: AUTH). To stay sound about data that is not commands, the check stops for
//      the rest of the plaintext phase once the forwarded stream may contain data:
//        IMAP: a forwarded line ended in '}' (a literal was announced) or an IDLE went out;
//        SMTP: a DATA or BDAT line went out;
//        POP3: never (a POP3 client sends nothing but command lines before authenticating).
//   B. After an Actions with start_tls and until on_tls_established(): on_client_data
//      produces nothing (no to_backend, no to_client), on_backend_data produces nothing for
//      either side, and start_tls is never emitted while TLS is already active.
//   C. to_client produced by a client-only event (no backend bytes fed, filter not
//      transparent before the event) is made of complete lines: it ends in CRLF, contains no
//      bare LF, and starts at a line boundary of the client stream (a reply of the filter's
//      own never lands inside a backend line or literal already partly sent). Steps that close
//      the connection are checked for the first two only.
//   D. Output stays bounded: per event, to_client + to_backend <= 64 * input + 2 * 64 KiB
//      (held client bytes) + 2 * 64 KiB (a backend line) + 4 KiB + 256 * max_errors (error
//      replies queued behind a pending backend reply); checked only for max_errors <= 7,
//      since with a huge max_errors the queued error replies are bounded only by the client's
//      input (see README.md). Over the whole run, output <= 64 * input + 4 KiB * events.

#include "tlsgate/proto/filter.hpp"
#include "tlsgate/proto/idle_tracker.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace fuzzh {

using tlsgate::config::Protocol;
using tlsgate::config::StarttlsPolicy;
using tlsgate::proto::Actions;
using tlsgate::proto::FilterSettings;

[[noreturn]] inline void fail(const char* what, const std::string& detail) {
    std::fprintf(stderr, "\n*** INVARIANT VIOLATED: %s\n%s\n", what, detail.c_str());
    std::fflush(stderr);
    std::abort();
}

inline std::string printable(std::string_view s, size_t max = 400) {
    std::string r;
    for (size_t i = 0; i < s.size() && i < max; ++i) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c == '\r') {
            r += "\\r";
        } else if (c == '\n') {
            r += "\\n";
        } else if (c < 0x20 || c >= 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            r += buf;
        } else {
            r += static_cast<char>(c);
        }
    }
    if (s.size() > max) {
        r += "...";
    }
    return r;
}

inline std::string upper(std::string_view s) {
    std::string r(s);
    for (auto& c : r) {
        if (c >= 'a' && c <= 'z') {
            c = static_cast<char>(c - 'a' + 'A');
        }
    }
    return r;
}

// The n-th (0-based) space-separated token of a line.
inline std::string_view token(std::string_view line, int n) {
    size_t pos = 0;
    for (int i = 0;; ++i) {
        size_t sp = line.find(' ', pos);
        std::string_view t = line.substr(pos, sp == std::string_view::npos ? sp : sp - pos);
        if (i == n) {
            return t;
        }
        if (sp == std::string_view::npos) {
            return {};
        }
        pos = sp + 1;
    }
}

struct Canned {
    std::vector<std::string> client;
    std::vector<std::string> backend; // "%T" is replaced by the oldest forwarded IMAP tag
};

inline const Canned& canned(Protocol p) {
    static const Canned imap{
        {"a CAPABILITY\r\n", "b STARTTLS\r\n", "c LOGIN user secret\r\n",
         "d AUTHENTICATE PLAIN\r\n", "e SELECT INBOX\r\n", "f APPEND INBOX {5}\r\n",
         "g APPEND INBOX {5+}\r\nhello\r\n", "hello\r\n", "h IDLE\r\n", "DONE\r\n", "i NOOP\r\n",
         "j LOGOUT\r\n", "k ID (\"name\" {3}\r\n", "l LOGIN {4+}\r\nuser {6+}\r\nsecret\r\n",
         "dXNlcgB1c2VyAHNlY3JldA==\r\n", "m STARTTLS\r\nn LOGIN user secret\r\n",
         "o FETCH 1 BODY[]\r\n", "p login \"us\\\"er\" secret\r\n"},
        {"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED AUTH=PLAIN LITERAL+ ID IDLE] ready\r\n",
         "* PREAUTH ready\r\n", "+ go ahead\r\n", "%T OK done\r\n", "%T NO failed\r\n",
         "* CAPABILITY IMAP4rev1 LITERAL+ LITERAL- AUTH=PLAIN STARTTLS IDLE\r\n",
         "* 1 FETCH (BODY[] {12}\r\nhello\r\nworld)\r\n", "* BYE shutting down\r\n", "+ \r\n",
         "%T OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n", "* OK ready\r\n", "* 2 EXISTS\r\n",
         "%T BAD syntax\r\n", "* ID NIL\r\n"}};
    static const Canned pop3{
        {"CAPA\r\n", "STLS\r\n", "USER bob\r\n", "PASS secret\r\n", "APOP bob 0123abcd\r\n",
         "AUTH PLAIN\r\n", "AUTH\r\n", "STAT\r\n", "RETR 1\r\n", "LIST\r\n", "QUIT\r\n", "NOOP\r\n",
         "dXNlcgB1c2VyAHNlY3JldA==\r\n", "TOP 1 0\r\n", "UIDL\r\n", "STLS\r\nUSER bob\r\n",
         "user bob\r\n"},
        {"+OK POP3 ready <1.2@x>\r\n", "+OK\r\n", "-ERR no\r\n", "+ \r\n",
         "+OK message\r\nSubject: x\r\n..dot\r\n\r\nbody\r\n.\r\n",
         "+OK capa\r\nSTLS\r\nUSER\r\nSASL PLAIN LOGIN\r\nTOP\r\nPIPELINING\r\n.\r\n", ".\r\n",
         "+OK logged in\r\n", "-ERR [AUTH] bad\r\n", "line\r\n"}};
    static const Canned smtp{
        {"EHLO client.example\r\n", "HELO client.example\r\n", "STARTTLS\r\n", "AUTH PLAIN\r\n",
         "AUTH PLAIN dXNlcgB1c2VyAHNlY3JldA==\r\n", "MAIL FROM:<a@example.org>\r\n",
         "RCPT TO:<b@example.org>\r\n", "DATA\r\n", "Subject: x\r\n\r\nbody\r\n.\r\n",
         "BDAT 5 LAST\r\n", "hello", "RSET\r\n", "QUIT\r\n", "NOOP\r\n", "\r\n.\r\n",
         "AUTH LOGIN\r\n", "STARTTLS\r\nAUTH PLAIN x\r\n", "auth plain\r\n",
         "\n.\nMAIL FROM:<evil@example.org>\r\n"},
        {"220 mx.example ESMTP\r\n",
         "250-mx.example\r\n250-PIPELINING\r\n250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n"
         "250-CHUNKING\r\n250 8BITMIME\r\n",
         "250 2.0.0 ok\r\n", "354 go ahead\r\n", "334 \r\n", "235 2.7.0 ok\r\n", "535 5.7.8 no\r\n",
         "221 2.0.0 bye\r\n", "421 4.3.2 down\r\n", "550 5.1.1 no\r\n", "220-mx.example\r\n",
         "250-mx.example\r\n", "250 AUTH=PLAIN\r\n"}};
    switch (p) {
    case Protocol::imap:
        return imap;
    case Protocol::pop3:
        return pop3;
    default:
        return smtp;
    }
}

class Harness {
public:
    Harness(Protocol protocol, const uint8_t* data, size_t size)
        : p_(protocol), data_(data), size_(size) {}

    void run() {
        if (size_ == 0) {
            return;
        }
        uint8_t s = data_[pos_++];
        FilterSettings fs;
        fs.protocol = p_;
        fs.tls_active_from_start = (s & 1) != 0;
        fs.starttls_policy = (s & 2) ? StarttlsPolicy::may : StarttlsPolicy::encrypt;
        fs.auth_requires_tls = (s & 4) == 0;
        static constexpr size_t lines[] = {8192, 512, 1024, 65536};
        fs.max_line = lines[(s >> 3) & 3];
        fs.max_errors = (s >> 5) == 0 ? 1000000 : s >> 5;
        settings_ = fs;
        filter_ = tlsgate::proto::make_server_filter(fs);
        if (!filter_) {
            fail("make_server_filter returned nullptr", "");
        }
        // The drain's judge follows what the filter lets through, as the session feeds it.
        idle_ = tlsgate::proto::IdleTracker::make(p_);
        tls_ = fs.tls_active_from_start;

        while (pos_ < size_ && !closed_) {
            uint8_t op = data_[pos_++] % 8;
            switch (op) {
            case 0:
                client(take(byte()));
                break;
            case 1:
                backend(take(byte()));
                break;
            case 2: {
                const auto& v = canned(p_).client;
                client(v[byte() % v.size()]);
                break;
            }
            case 3: {
                const auto& v = canned(p_).backend;
                backend(fill_tag(v[byte() % v.size()]));
                break;
            }
            case 4:
                if (tls_pending_) {
                    tls_established();
                }
                break;
            case 5:
            case 6: {
                uint8_t k = byte();
                char c = static_cast<char>(byte());
                std::string f(static_cast<size_t>(k % 80 + 1) * 1024, c);
                if (k >= 128) {
                    f += '\n';
                }
                if (op == 5) {
                    client(f);
                } else {
                    backend(f);
                }
                break;
            }
            case 7: {
                size_t n = static_cast<size_t>(byte()) << 8;
                n |= byte();
                client(take(n));
                break;
            }
            }
        }
    }

private:
    uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }

    std::string take(size_t n) {
        n = std::min(n, size_ - pos_);
        std::string r(reinterpret_cast<const char*>(data_ + pos_), n);
        pos_ += n;
        return r;
    }

    std::string fill_tag(std::string text) {
        auto at = text.find("%T");
        if (at == std::string::npos) {
            return text;
        }
        std::string tag = "*";
        if (!tags_.empty()) {
            tag = tags_.front();
            tags_.pop_front();
        }
        return text.replace(at, 2, tag);
    }

    void trace(char kind, std::string_view bytes) {
        if (trace_.size() < 8000) {
            trace_ += kind;
            trace_ += ": ";
            trace_ += printable(bytes, 200);
            trace_ += '\n';
        }
    }

    [[noreturn]] void violated(const char* what, const Actions& a, std::string_view extra = {}) {
        std::string d = "events so far:\n" + trace_;
        d += "to_client: " + printable(a.to_client) + "\n";
        d += "to_backend: " + printable(a.to_backend) + "\n";
        if (!extra.empty()) {
            d += std::string(extra) + "\n";
        }
        fail(what, d);
    }

    void client(const std::string& bytes) {
        trace('C', bytes);
        bool was_transparent = filter_->transparent();
        bool in_window = tls_pending_;
        Actions a;
        filter_->on_client_data(bytes, a);
        if (in_window && (!a.to_backend.empty() || !a.to_client.empty())) {
            violated("B: client bytes sent after an accepted STARTTLS produced output before "
                     "the TLS handshake",
                     a);
        }
        if (!was_transparent && !a.to_client.empty()) {
            const std::string& t = a.to_client;
            if (t.size() < 2 || t.compare(t.size() - 2, 2, "\r\n") != 0) {
                violated("C: a reply of the filter's own does not end in CRLF", a);
            }
            for (size_t i = 0; i < t.size(); ++i) {
                if (t[i] == '\n' && (i == 0 || t[i - 1] != '\r')) {
                    violated("C: a reply of the filter's own contains a bare LF", a);
                }
            }
            if (!a.close && !client_at_line_start_) {
                violated("C: a reply of the filter's own went out inside a backend line or "
                         "literal",
                         a);
            }
        }
        after(a, bytes.size());
    }

    void backend(const std::string& bytes) {
        bool in_window = tls_pending_;
        if (in_window) {
            // The session stops reading the backend while the handshake runs (backpressure):
            // at most one read's worth arrives in that window.
            window_backend_ += bytes.size();
            if (window_backend_ > 64 * 1024) {
                return;
            }
        }
        trace('B', bytes);
        Actions a;
        filter_->on_backend_data(bytes, a);
        if (in_window && (!a.to_backend.empty() || !a.to_client.empty())) {
            violated("B: backend bytes produced output while the TLS handshake is pending", a);
        }
        after(a, bytes.size());
    }

    void tls_established() {
        trace('T', {});
        tls_pending_ = false;
        window_backend_ = 0;
        tls_ = true;
        Actions a;
        filter_->on_tls_established(a);
        after(a, 0);
    }

    void after(const Actions& a, size_t in) {
        ++events_;
        total_in_ += in;
        size_t out = a.to_client.size() + a.to_backend.size();
        total_out_ += out;
        constexpr size_t k = 64 * 1024;
        if (settings_.max_errors <= 7 &&
            out > 64 * in + 2 * k + 2 * k + 4096 + 256 * settings_.max_errors) {
            violated("D: output of one event out of proportion to its input", a,
                     "input " + std::to_string(in) + ", output " + std::to_string(out));
        }
        if (total_out_ > 64 * total_in_ + 4096 * events_) {
            violated("D: total output out of proportion to total input", a);
        }
        if (a.start_tls) {
            if (tls_ || tls_pending_) {
                violated("B: start_tls while TLS is already active or pending", a);
            }
            tls_pending_ = true;
        }
        if (!a.to_client.empty()) {
            client_at_line_start_ = a.to_client.back() == '\n';
        }
        idle_->to_backend(a.to_backend);
        idle_->to_client(a.to_client);
        (void)idle_->between_commands();
        (void)filter_->quiet();
        check_auth(a.to_backend);
        if (a.close) {
            closed_ = true;
        }
    }

    void check_auth(std::string_view bytes) {
        if (tls_ || !settings_.auth_requires_tls || data_seen_) {
            // Keep IMAP tags flowing for the canned replies.
            collect_tags(bytes);
            return;
        }
        fwd_ += bytes;
        size_t nl;
        while (!data_seen_ && (nl = fwd_.find('\n')) != std::string::npos) {
            std::string line = fwd_.substr(0, nl);
            fwd_.erase(0, nl + 1);
            if (!line.empty() && line.back() == '\r') {
                line.pop_back();
            }
            check_line(line);
        }
        if (data_seen_) {
            collect_tags(fwd_);
            fwd_.clear();
        }
    }

    void check_line(const std::string& line) {
        bool bad = false;
        switch (p_) {
        case Protocol::imap: {
            add_tag(line);
            std::string verb = upper(token(line, 1));
            bad = verb == "LOGIN" || verb == "AUTHENTICATE";
            if (!line.empty() && line.back() == '}') {
                data_seen_ = true; // literal octets follow: not lines any more
            }
            if (verb == "IDLE") {
                data_seen_ = true; // "DONE" and whatever is relayed as an exchange line
            }
            break;
        }
        case Protocol::pop3: {
            std::string verb = upper(token(line, 0));
            bad = verb == "USER" || verb == "PASS" || verb == "APOP" || verb == "AUTH";
            break;
        }
        default: {
            std::string verb = upper(token(line, 0));
            bad = verb == "AUTH";
            if (verb == "DATA" || verb == "BDAT") {
                data_seen_ = true;
            }
            break;
        }
        }
        if (bad) {
            Actions none;
            violated("A: authentication command forwarded to the backend before TLS", none,
                     "line: " + printable(line));
        }
    }

    void collect_tags(std::string_view bytes) {
        if (p_ != Protocol::imap) {
            return;
        }
        tagbuf_ += bytes;
        size_t nl;
        while ((nl = tagbuf_.find('\n')) != std::string::npos) {
            add_tag(tagbuf_.substr(0, nl));
            tagbuf_.erase(0, nl + 1);
        }
        if (tagbuf_.size() > 4096) {
            tagbuf_.clear();
        }
    }

    void add_tag(std::string_view line) {
        if (p_ != Protocol::imap) {
            return;
        }
        std::string_view t = token(line, 0);
        if (!t.empty() && t.size() < 32 && t.find('\r') == std::string_view::npos &&
            tags_.size() < 64) {
            tags_.emplace_back(t);
        }
    }

    Protocol p_;
    const uint8_t* data_;
    size_t size_;
    size_t pos_ = 0;
    FilterSettings settings_;
    std::unique_ptr<tlsgate::proto::ServerFilter> filter_;
    std::unique_ptr<tlsgate::proto::IdleTracker> idle_;
    bool tls_ = false;
    bool tls_pending_ = false;
    bool closed_ = false;
    bool data_seen_ = false;
    bool client_at_line_start_ = true;
    std::string fwd_;
    std::string tagbuf_;
    std::deque<std::string> tags_;
    std::string trace_;
    size_t events_ = 0;
    size_t window_backend_ = 0;
    size_t total_in_ = 0;
    size_t total_out_ = 0;
};

inline int run(Protocol p, const uint8_t* data, size_t size) {
    Harness h(p, data, size);
    h.run();
    return 0;
}

} // namespace fuzzh
