#include "tlsgate/proto/smtp_client_prelude.hpp"

#include "tlsgate/proto/line_buffer.hpp"
#include "tlsgate/proto/smtp_syntax.hpp"

#include <fmt/format.h>

namespace tlsgate::proto {

namespace {

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
    // Stricter than the server filter's reading: a reply line that is not well formed, or a
    // multi-line reply whose code changes, fails the prelude.
    const smtp_syntax::ReplyLine reply = smtp_syntax::parse_reply_line(content);
    const int code = reply.number();
    if (code < 0 || (!lines_.empty() && code != code_)) {
        fail(out, fmt::format("{}: {}",
                              stage_ == Stage::greeting ? "unexpected greeting"
                                                        : "unexpected server response",
                              content));
        return;
    }
    code_ = code;
    lines_.emplace_back(content);
    if (!reply.continues()) {
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
        std::string_view text = smtp_syntax::parse_reply_line(lines_[i]).text;
        if (iequals(smtp_syntax::ehlo_keyword(text), "STARTTLS")) {
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
