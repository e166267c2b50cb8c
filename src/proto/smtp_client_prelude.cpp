#include "tlsgate/proto/smtp_client_prelude.hpp"

#include "tlsgate/proto/line_buffer.hpp"

#include <algorithm>
#include <fmt/format.h>

namespace tlsgate::proto {

namespace {

// "ddd", "ddd text" or "ddd-text": the code, or -1 when the line is malformed.
int reply_code(std::string_view line, bool& last) {
    if (line.size() < 3) {
        return -1;
    }
    int code = 0;
    for (size_t i = 0; i < 3; ++i) {
        if (line[i] < '0' || line[i] > '9') {
            return -1;
        }
        code = code * 10 + (line[i] - '0');
    }
    if (line.size() == 3 || line[3] == ' ') {
        last = true;
    } else if (line[3] == '-') {
        last = false;
    } else {
        return -1;
    }
    return code;
}

std::string valid_ehlo_name(std::string_view name) {
    std::string r;
    for (char c : name) {
        if (c > ' ' && c < 0x7f) {
            r.push_back(c);
        }
    }
    return r.empty() ? std::string("localhost") : r;
}

} // namespace

SmtpClientPrelude::SmtpClientPrelude(const ClientPreludeSettings& settings)
    : ClientPreludeBase(settings), ehlo_name_(valid_ehlo_name(settings.ehlo_name)) {}

void SmtpClientPrelude::on_line(std::string_view content, Actions& out) {
    bool last = false;
    int code = reply_code(content, last);
    if (code < 0 || (!lines_.empty() && code != code_)) {
        fail(out, fmt::format("{}: {}",
                              stage_ == Stage::greeting ? "unexpected greeting"
                                                        : "unexpected server response",
                              content));
        return;
    }
    code_ = code;
    lines_.emplace_back(content);
    if (last) {
        on_reply(out);
        lines_.clear();
    }
}

void SmtpClientPrelude::on_reply(Actions& out) {
    switch (stage_) {
    case Stage::greeting:
        if (code_ != 220) {
            fail(out, fmt::format("unexpected greeting: {}", lines_.front()));
            return;
        }
        for (const auto& line : lines_) {
            greeting_ += line;
            greeting_ += "\r\n";
        }
        send(out, fmt::format("EHLO {}\r\n", ehlo_name_));
        stage_ = Stage::ehlo;
        return;
    case Stage::ehlo:
        on_ehlo_reply(out);
        return;
    case Stage::starttls:
        if (code_ == 220) {
            go_ahead(out);
            return;
        }
        fail(out, fmt::format("STARTTLS refused: {}", lines_.front()));
        return;
    }
}

void SmtpClientPrelude::on_ehlo_reply(Actions& out) {
    if (code_ >= 500 && code_ <= 599 && settings().starttls_policy == config::StarttlsPolicy::may) {
        no_starttls(out); // no EHLO, no extensions, no STARTTLS
        return;
    }
    if (code_ != 250) {
        fail(out, fmt::format("EHLO refused: {}", lines_.front()));
        return;
    }
    // The first line greets; each further line names one extension.
    for (size_t i = 1; i < lines_.size(); ++i) {
        std::string_view ext =
            std::string_view(lines_[i]).substr(std::min<size_t>(4, lines_[i].size()));
        if (iequals(split_first_word(ext).first, "STARTTLS")) {
            send(out, "STARTTLS\r\n");
            stage_ = Stage::starttls;
            return;
        }
    }
    no_starttls(out);
}

std::string SmtpClientPrelude::greeting_after_tls() const {
    return fmt::format("220 {} ESMTP tlsgate ready\r\n", ehlo_name_);
}

void SmtpClientPrelude::no_starttls(Actions& out) {
    if (settings().starttls_policy != config::StarttlsPolicy::may) {
        fail(out, "server offers no STARTTLS");
        return;
    }
    out.log.push_back(
        {config::LogLevel::notice,
         "server offers no STARTTLS; continuing in plaintext (starttls_policy = may)"});
    fallback(out, greeting_);
}

} // namespace tlsgate::proto
