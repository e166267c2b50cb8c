#include "tlsgate/proto/smtp_filter.hpp"

#include "tlsgate/proto/smtp_syntax.hpp"

#include <algorithm>
#include <fmt/format.h>

namespace tlsgate::proto {

using smtp_syntax::ehlo_keyword;
using smtp_syntax::known_verb;
using smtp_syntax::looks_like_bdat;
using smtp_syntax::parse_bdat;
using smtp_syntax::parse_reply_line;
using smtp_syntax::ReplyLine;
using smtp_syntax::valid_verb;

namespace {

bool allowed_before_tls(std::string_view verb) {
    return verb == "NOOP" || verb == "EHLO" || verb == "HELO" || verb == "RSET" || verb == "QUIT" ||
           verb == "STARTTLS";
}

// XCLIENT and XFORWARD (Postfix) make the backend believe another client address and name;
// it trusts tlsgate's address for them, so clients may use them only where a service says so.
bool is_xclient(std::string_view verb) {
    return verb == "XCLIENT" || verb == "XFORWARD";
}

bool allowed_before_ehlo(std::string_view verb) {
    return verb == "NOOP" || verb == "EHLO" || verb == "HELO" || verb == "RSET" || verb == "QUIT";
}

} // namespace

constexpr ProtocolReplies kSmtpReplies = {
    "421 4.3.2 Service not available, closing transmission channel\r\n",
    "421 4.4.2 Timeout exceeded, closing connection\r\n",
    "421 4.7.0 Too many errors, closing connection\r\n",
    "500 5.5.6 Line too long\r\n",
    "421 4.7.0 Too much data sent ahead of the server, closing connection\r\n",
};

SmtpFilter::SmtpFilter(const FilterSettings& settings) : FilterBase(settings, kSmtpReplies) {}

void SmtpFilter::process_client(Actions& out) {
    if (!greeting_done_ && !cin_.empty()) {
        early_talker(out);
    }
    while (!client_stopped() && greeting_done_ && !cin_.empty()) {
        switch (mode_) {
        case Mode::data_wait:
            return; // DATA ends a pipelined group: nothing is read before its reply
        case Mode::data:
            process_body(out);
            break;
        case Mode::bdat:
        case Mode::bdat_skip: {
            size_t n = static_cast<size_t>(std::min<uint64_t>(chunk_left_, cin_.size()));
            if (mode_ == Mode::bdat) {
                out.to_backend += cin_.view().substr(0, n); // exact octets, never parsed
            }
            cin_.consume(n);
            chunk_left_ -= n;
            if (chunk_left_ == 0) {
                mode_ = Mode::command;
            }
            break;
        }
        case Mode::sasl:
        case Mode::command: {
            if (mode_ == Mode::sasl && conts_ == 0) {
                return; // the client waits for 334 too
            }
            if (mode_ == Mode::command && pending_full()) {
                return; // no new command until the backend has answered some
            }
            // RFC 4954 section 4: SASL responses and the AUTH command line itself (its
            // initial response) may be 12,288 octets; every other command 512.
            size_t limit = mode_ == Mode::sasl || istarts_with(cin_.view(), "AUTH ")
                               ? kMaxSaslLine
                               : kMaxCommandLine;
            std::string line;
            if (!take_client_line(out, limit, line)) {
                return;
            }
            std::string_view content = line_content(line);
            if (mode_ == Mode::sasl) {
                --conts_;
                out.to_backend += content; // a SASL response, not a command
                out.to_backend += "\r\n";
            } else {
                handle_command(content, out);
            }
            break;
        }
        }
    }
}

void SmtpFilter::early_talker(Actions& out) {
    if (early_seen_) {
        return;
    }
    early_seen_ = true;
    ++counters_.early_talkers;
    if (settings_.early_talker == config::EarlyTalker::hold) {
        log(out, config::LogLevel::notice,
            "client talked before the greeting (early talker); holding its input");
        return;
    }
    log(out, config::LogLevel::notice,
        "client talked before the greeting (early talker); refusing");
    cin_.clear();
    greeting_held_.clear();
    // Part of an overlong greeting already went out: a reply now would land inside it.
    reply_and_close(out,
                    greeting_partly_sent_
                        ? std::string()
                        : std::string("554 5.5.1 Protocol error: talked before the greeting\r\n"),
                    "early talker");
}

void SmtpFilter::refuse_bdat(Actions& out, uint64_t size, std::string text, std::string_view why) {
    refuse(out, "BDAT", std::move(text), false, why);
    // The client sends the chunk without waiting: drop exactly its octets.
    if (size > 0) {
        mode_ = Mode::bdat_skip;
        chunk_left_ = size;
    }
}

void SmtpFilter::handle_command(std::string_view content, Actions& out) {
    if (looks_like_bdat(content)) {
        uint64_t size = 0;
        Words b = split_first_word(content);
        if (b.first.size() != 4 || !parse_bdat(b.rest, size)) {
            // Its chunk follows at once and its size is unknown: whatever the filter read next
            // as commands would be message content. Neither relay nor guess.
            ++counters_.commands_refused;
            log(out, config::LogLevel::notice, "refused BDAT: malformed, closing");
            cin_.clear();
            reply_and_close(out, "421 4.7.0 Error: malformed BDAT command, closing connection\r\n",
                            "malformed BDAT");
            return;
        }
    }
    if (content.empty() || content.find('\r') != std::string_view::npos ||
        content.find('\0') != std::string_view::npos) {
        invalid(out, "500 5.5.2 Error: bad syntax\r\n", "bad line");
        return;
    }
    Words w = split_first_word(content);
    if (!valid_verb(w.first)) {
        invalid(out, "500 5.5.2 Error: bad syntax\r\n", "bad verb");
        return;
    }
    std::string verb = to_upper(w.first);
    if (refuse_sasl_response(out, known_verb(verb), "500 5.5.2 Error: bad syntax\r\n")) {
        return;
    }
    bool has_args = w.has_rest && !w.rest.empty();
    uint64_t bdat_size = 0;
    if (verb == "BDAT") {
        parse_bdat(w.rest, bdat_size); // malformed ones were refused above
    }

    if (is_xclient(verb) && !settings_.allow_xclient) {
        std::string text = "550 5.7.0 Error: insufficient authorization\r\n";
        refuse(out, verb, std::move(text), false, "not allowed for this service");
        return;
    }
    if (verb == "STARTTLS") {
        if (tls_) {
            refuse(out, verb, "503 5.5.1 Error: TLS already active\r\n", false,
                   "TLS already active");
        } else if (has_args) {
            invalid(out, "501 5.5.4 Syntax error (no parameters allowed)\r\n",
                    "STARTTLS with arguments");
        } else {
            accept_starttls(out, "220 2.0.0 Ready to start TLS\r\n");
        }
        return;
    }
    if (!tls_ && settings_.auth_requires_tls && verb == "AUTH") {
        refuse(out, verb,
               "538 5.7.11 Encryption required for requested authentication mechanism\r\n", true,
               "authentication before TLS");
        auth_refused();
        return;
    }
    if (!tls_ && settings_.starttls_policy == config::StarttlsPolicy::encrypt &&
        !allowed_before_tls(verb)) {
        std::string text = "530 5.7.0 Must issue a STARTTLS command first\r\n";
        if (verb == "BDAT") {
            refuse_bdat(out, bdat_size, std::move(text), "TLS required");
        } else {
            refuse(out, verb, std::move(text), false, "TLS required");
        }
        return;
    }
    if (need_ehlo_ && !allowed_before_ehlo(verb)) {
        // RFC 3207 4.2: nothing learnt before TLS survives it; a new EHLO comes first.
        std::string text = "503 5.5.1 Error: send HELO/EHLO first\r\n";
        if (verb == "BDAT") {
            refuse_bdat(out, bdat_size, std::move(text), "no EHLO after STARTTLS");
        } else {
            refuse(out, verb, std::move(text), false, "no EHLO after STARTTLS");
        }
        return;
    }
    if (verb == "BDAT" && !backend_chunking_) {
        // A backend that does not do CHUNKING would read the chunk as commands.
        refuse_bdat(out, bdat_size, "502 5.5.1 Error: command not implemented\r\n",
                    "CHUNKING not offered");
        return;
    }

    forward_command(out, verb, content);
    if (verb == "EHLO" || verb == "HELO") {
        need_ehlo_ = false;
        if (verb == "HELO") {
            backend_chunking_ = false;
        }
        expect(verb == "EHLO" ? k_ehlo : k_normal);
    } else if (verb == "DATA") {
        expect(k_data);
        mode_ = Mode::data_wait;
    } else if (verb == "BDAT") {
        expect(k_normal);
        if (bdat_size > 0) {
            mode_ = Mode::bdat;
            chunk_left_ = bdat_size;
        }
    } else if (verb == "XCLIENT") {
        // Allowed: the backend starts a new session (Postfix answers with a new greeting);
        // what it offered before no longer holds.
        backend_chunking_ = false;
        expect(k_normal);
    } else if (verb == "AUTH") {
        expect(k_auth);
        mode_ = Mode::sasl;
        conts_ = 0;
    } else {
        expect(k_normal);
    }
}

// DATA body relay. Only "<CRLF>.<CRLF>" in the client's octets ends the body (the CRLF before
// the dot may be the one ending the DATA command). So that the backend can never see an end
// the filter did not see (nor the reverse), the body is normalised on the way:
//   - a bare LF or a bare CR becomes CRLF (as Postfix's smtpd_forbid_bare_newline=normalize);
//   - a line consisting of "." alone that is not a genuine end (its own terminator, or the
//     previous line's, was a bare CR or LF) is sent as "..": the backend un-stuffs it to a
//     "." data line instead of ending the message.
// So "<LF>.<LF>", "<CR>.<CR>", "<LF>.<CR><LF>", "<CR><LF>.<LF>" and friends followed by a
// smuggled "MAIL FROM" stay message content in both hops. Lines starting with "." otherwise
// pass untouched (the client dot-stuffed them; the backend un-stuffs them).
void SmtpFilter::process_body(Actions& out) {
    std::string& o = out.to_backend;
    size_t i = 0;
    const size_t n = cin_.size();
    bool ended = false;
    while (i < n && !ended) {
        char c = cin_[i];
        switch (body_) {
        case Body::line_start:
            if (c == '.') {
                body_ = Body::dot;
                ++i;
            } else {
                body_ = Body::mid;
            }
            break;
        case Body::mid: {
            size_t j = cin_.view().find_first_of("\r\n", i);
            if (j == std::string::npos) {
                j = n;
            }
            o += cin_.view().substr(i, j - i);
            i = j;
            if (i < n) {
                if (cin_[i] == '\r') {
                    body_ = Body::cr;
                } else { // bare LF
                    o += "\r\n";
                    prev_crlf_ = false;
                    body_ = Body::line_start;
                }
                ++i;
            }
            break;
        }
        case Body::cr:
            o += "\r\n";
            body_ = Body::line_start;
            if (c == '\n') {
                prev_crlf_ = true;
                ++i;
            } else {
                prev_crlf_ = false; // bare CR; c starts the next line
            }
            break;
        case Body::dot:
            if (c == '\r') {
                body_ = Body::dot_cr;
                ++i;
            } else if (c == '\n') {
                o += "..\r\n"; // "." ended by a bare LF: data
                prev_crlf_ = false;
                body_ = Body::line_start;
                ++i;
            } else {
                o += '.';
                body_ = Body::mid;
            }
            break;
        case Body::dot_cr:
            if (c == '\n') {
                ++i;
                if (prev_crlf_) {
                    o += ".\r\n"; // the end of the body
                    ended = true;
                } else {
                    o += "..\r\n";
                    prev_crlf_ = true;
                    body_ = Body::line_start;
                }
            } else {
                o += "..\r\n"; // "." ended by a bare CR: data
                prev_crlf_ = false;
                body_ = Body::line_start;
            }
            break;
        }
    }
    cin_.consume(i);
    if (ended) {
        mode_ = Mode::command;
        expect(k_normal); // the reply to the message
    }
}

void SmtpFilter::after_tls(Actions& out) {
    // RFC 3207 4.2: discard everything from before TLS, backend included. The backend's
    // reply to our RSET is ours, not the client's.
    forward_command(out, "RSET", "RSET");
    expect(k_internal_rset);
    mode_ = Mode::command;
    conts_ = 0;
    need_ehlo_ = true;
    backend_chunking_ = false;
}

void SmtpFilter::process_backend(Actions& out) {
    BoundedLines::Piece p;
    while (!backend_paused() && bin_.next(p)) {
        if (p.starts_line) {
            handle_backend_line(p.text, p.ends_line, out);
            continue;
        }
        // Rest of an overlong line.
        if (reply_kind_ != k_internal_rset) {
            out.to_client += p.text;
        }
        if (p.ends_line && overlong_final_) {
            overlong_final_ = false;
            end_of_reply(out);
        }
    }
}

void SmtpFilter::handle_backend_line(std::string_view line, bool whole, Actions& out) {
    std::string_view content = whole ? line_content(line) : line;
    // Any line but a "-" continuation ends the reply, as clients read it: the backend's
    // replies are relayed as they are, never refused.
    const ReplyLine reply = parse_reply_line(content);
    const bool final = !reply.continues();
    if (!greeting_done_) {
        if (settings_.early_talker == config::EarlyTalker::reject && whole &&
            greeting_held_.size() < kMaxBackendLine) {
            // Held until its last line: a client talking before then is refused, and must
            // not have seen any of it.
            greeting_held_ += line;
            if (final) {
                out.to_client += greeting_held_;
                greeting_held_.clear();
                greeting_done_ = true;
            }
            return;
        }
        out.to_client += greeting_held_;
        greeting_held_.clear();
        out.to_client += line;
        greeting_partly_sent_ = true;
        if (final) {
            if (whole) {
                greeting_done_ = true;
            } else {
                overlong_final_ = true;
                reply_kind_ = -2; // greeting
            }
        }
        return;
    }
    bool first = !in_reply_;
    if (first) {
        in_reply_ = true;
        reply_code_ = std::string(reply.code);
        Slot* slot = front_backend_slot();
        reply_kind_ = slot ? slot->kind : -1;
        ehlo_rewrite_ = reply_kind_ == k_ehlo && reply_code_ == "250";
        ehlo_held_.reset();
        ehlo_chunking_ = false;
    }
    if (reply_kind_ == k_internal_rset) {
        // swallowed
    } else if (ehlo_rewrite_ && whole) {
        ehlo_line(reply.text, first, final, out);
    } else {
        if (ehlo_rewrite_) {
            // Overlong EHLO line: give up rewriting the rest of this reply, keep it well-formed.
            if (ehlo_held_) {
                out.to_client += fmt::format("250-{}\r\n", *ehlo_held_);
                ehlo_held_.reset();
            }
            ehlo_rewrite_ = false;
        }
        out.to_client += line;
    }
    if (final) {
        if (whole) {
            end_of_reply(out);
        } else {
            overlong_final_ = true;
        }
    }
}

void SmtpFilter::ehlo_line(std::string_view text, bool first, bool final, Actions& out) {
    if (first) {
        ehlo_held_ = std::string(text); // the greeting line is always kept
    } else {
        std::string keyword = to_upper(ehlo_keyword(text));
        bool drop = keyword == "STARTTLS" ||
                    (!tls_ && settings_.auth_requires_tls &&
                     (keyword == "AUTH" || keyword.starts_with("AUTH="))) ||
                    (is_xclient(keyword) && !settings_.allow_xclient);
        if (keyword == "CHUNKING") {
            ehlo_chunking_ = true;
        }
        if (!drop) {
            if (ehlo_held_) {
                out.to_client += fmt::format("250-{}\r\n", *ehlo_held_);
            }
            ehlo_held_ = std::string(text);
        }
    }
    if (final) {
        if (!tls_) {
            out.to_client += fmt::format("250-{}\r\n", ehlo_held_.value_or(""));
            ehlo_held_ = "STARTTLS";
        }
        out.to_client += fmt::format("250 {}\r\n", ehlo_held_.value_or(""));
        ehlo_held_.reset();
    }
}

void SmtpFilter::end_of_reply(Actions& out) {
    in_reply_ = false;
    int kind = reply_kind_;
    reply_kind_ = -1;
    if (kind == -2) {
        greeting_done_ = true;
        return;
    }
    if (kind == -1) {
        return; // unsolicited
    }
    switch (kind) {
    case k_data:
        mode_ = reply_code_ == "354" ? Mode::data : Mode::command;
        if (mode_ == Mode::data) {
            body_ = Body::line_start;
            prev_crlf_ = true;
        }
        break;
    case k_auth:
        if (reply_code_ == "334") {
            ++conts_;
            return; // the exchange goes on
        }
        if (reply_code_ == "235") {
            authenticated_ = true;
        }
        mode_ = Mode::command;
        break;
    case k_ehlo:
        // A refused EHLO leaves the backend's idea of the session unknown to us: no BDAT.
        backend_chunking_ = reply_code_ == "250" && ehlo_chunking_;
        break;
    default:
        break;
    }
    finish_front(out);
}

} // namespace tlsgate::proto
