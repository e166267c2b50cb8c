#include "tlsgate/proto/client_prelude.hpp"

#include "tlsgate/proto/client_prelude_base.hpp"
#include "tlsgate/proto/imap_client_prelude.hpp"
#include "tlsgate/proto/line_buffer.hpp"
#include "tlsgate/proto/pop3_client_prelude.hpp"
#include "tlsgate/proto/smtp_client_prelude.hpp"

#include <algorithm>
#include <fmt/format.h>

namespace tlsgate::proto {

std::string sanitize_reason(std::string_view text, size_t max) {
    std::string r;
    r.reserve(std::min(text.size(), max));
    for (char c : text) {
        auto u = static_cast<unsigned char>(c);
        r.push_back(u < 0x20 || u == 0x7f ? ' ' : c);
    }
    auto first = r.find_first_not_of(' ');
    if (first == std::string::npos) {
        return {};
    }
    r.erase(0, first);
    if (r.size() > max) {
        size_t cut = max;
        // Back off to the start of a UTF-8 sequence so that none is cut in half.
        while (cut > 0 && (static_cast<unsigned char>(r[cut]) & 0xC0) == 0x80) {
            --cut;
        }
        r.resize(cut);
    }
    r.erase(r.find_last_not_of(' ') + 1);
    return r;
}

void ClientPreludeBase::on_backend_data(std::string_view bytes, Actions& out) {
    if (state_ == State::done) {
        return;
    }
    if (state_ == State::awaiting_tls) {
        discard(bytes.size(), out, "its STARTTLS go-ahead (response injection)");
        return;
    }
    buf_.append(bytes);
    size_t pos = 0;
    while (state_ == State::running && pos < buf_.size()) {
        std::string_view rest = std::string_view(buf_).substr(pos);
        LineScan scan = scan_line(rest, kMaxLine);
        if (scan.status == LineScan::Status::overlong) {
            fail(out, "server line too long");
            break;
        }
        if (scan.status == LineScan::Status::incomplete) {
            break;
        }
        consumed_ += scan.length;
        if (consumed_ > kMaxPrelude) {
            fail(out, "server response too long");
            break;
        }
        pos += scan.length;
        on_line(line_content(rest.substr(0, scan.length)), out);
    }
    uint64_t left = buf_.size() - pos;
    if (state_ == State::running) {
        buf_.erase(0, pos);
        return;
    }
    buf_.clear();
    buf_.shrink_to_fit();
    if (left == 0) {
        return;
    }
    if (state_ == State::awaiting_tls) {
        discard(left, out, "its STARTTLS go-ahead (response injection)");
    } else if (plaintext_) {
        discard(left, out, "its EHLO reply");
    }
    // After a failure the rest does not matter: the connection closes.
}

void ClientPreludeBase::on_tls_established(Actions& out) {
    if (state_ != State::awaiting_tls) {
        return;
    }
    out.to_client += greeting_after_tls();
    state_ = State::done;
}

std::string ClientPreludeBase::failure_reply(std::string_view why) const {
    std::string reason = sanitize_reason(why);
    if (reason.empty()) {
        reason = "server unavailable";
    }
    return fmt::format("{}{}\r\n", failure_prefix(), reason);
}

void ClientPreludeBase::fail(Actions& out, std::string_view reason) {
    out.close = true;
    out.close_reason = sanitize_reason(reason);
    out.to_client += failure_reply(out.close_reason);
    state_ = State::done;
}

void ClientPreludeBase::go_ahead(Actions& out) {
    out.start_tls = true;
    state_ = State::awaiting_tls;
}

void ClientPreludeBase::fallback(Actions& out, std::string to_client) {
    out.plaintext_fallback = true;
    out.to_client += to_client;
    plaintext_ = true;
    state_ = State::done;
}

void ClientPreludeBase::discard(uint64_t n, Actions& out, std::string_view after_what) {
    if (n == 0) {
        return;
    }
    out.discarded_bytes += n;
    out.log.push_back({config::LogLevel::warning,
                       fmt::format("discarded {} bytes the server sent after {}", n, after_what)});
}

std::unique_ptr<ClientPrelude> make_client_prelude(const ClientPreludeSettings& settings) {
    switch (settings.protocol) {
    case config::Protocol::imap:
        return std::make_unique<ImapClientPrelude>(settings);
    case config::Protocol::pop3:
        return std::make_unique<Pop3ClientPrelude>(settings);
    case config::Protocol::smtp:
        return std::make_unique<SmtpClientPrelude>(settings);
    case config::Protocol::raw:
        break;
    }
    return nullptr;
}

} // namespace tlsgate::proto
