#include "tlsgate/proto/imap_filter.hpp"

#include "tlsgate/proto/imap_syntax.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <optional>

namespace tlsgate::proto {

using imap_syntax::allowed_before_tls;
using imap_syntax::as_synchronizing;
using imap_syntax::auth_verb;
using imap_syntax::capability_atoms;
using imap_syntax::capability_response;
using imap_syntax::CapabilityCode;
using imap_syntax::has_forbidden_octets;
using imap_syntax::known_verb;
using imap_syntax::scan_segment;
using imap_syntax::SegmentStart;
using imap_syntax::status_capability_code;
using imap_syntax::trailing_literal;
using imap_syntax::valid_tag;
using imap_syntax::valid_verb;

namespace {

constexpr std::string_view kPrivacyRequired =
    "NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure (SSL/TLS) "
    "connections.\r\n";

} // namespace

constexpr ProtocolReplies kImapReplies = {
    "* BYE [UNAVAILABLE] Backend server unavailable, try again later\r\n",
    "* BYE Disconnected for inactivity.\r\n",
    "* BYE Too many invalid commands.\r\n",
    "* BYE Command line too long.\r\n",
    "* BYE Too much data sent ahead of the server.\r\n",
};

ImapFilter::ImapFilter(const FilterSettings& settings) : FilterBase(settings, kImapReplies) {}

bool ImapFilter::literal_acceptable(const LiteralSpec& lit) const {
    uint64_t limit = authenticated_ ? kMaxLiteralAfterAuth : kMaxLiteralBeforeAuth;
    return !lit.too_big_number && lit.size <= limit;
}

bool ImapFilter::tag_pending(std::string_view tag) const {
    return pending_tags_.find(std::string(tag)) != pending_tags_.end();
}

void ImapFilter::skip_refused_literal(const LiteralSpec& lit, Actions& out) {
    mode_ = Mode::command;
    if (!lit.has_literal() || lit.sync) {
        // No "+" is ever sent, so the client sends no literal: the command is over.
        return;
    }
    if (lit.too_big_number || lit.size > kMaxLiteralAfterAuth) {
        log(out, config::LogLevel::warning, "non-synchronizing literal too large, closing");
        reply_and_close(out, "* BYE [TOOBIG] Literal too large.\r\n", "literal too large");
        return;
    }
    // LITERAL+: the client sends the octets anyway (for LOGIN: the password). Drop them.
    mode_ = Mode::skip_literal;
    literal_left_ = lit.size;
}

void ImapFilter::process_client(Actions& out) {
    while (!client_stopped() && greeting_done_ && !cin_.empty()) {
        switch (mode_) {
        case Mode::literal:
        case Mode::skip_literal: {
            size_t n = static_cast<size_t>(std::min<uint64_t>(literal_left_, cin_.size()));
            if (mode_ == Mode::literal) {
                out.to_backend += cin_.view().substr(0, n);
            }
            cin_.consume(n);
            literal_left_ -= n;
            if (literal_left_ == 0) {
                mode_ = mode_ == Mode::literal ? Mode::continuation : Mode::skip_continuation;
            }
            break;
        }
        case Mode::await_continuation:
            return; // the client waits for "+" too; anything it sends meanwhile waits here
        case Mode::exchange: {
            if (conts_ == 0) {
                return;
            }
            std::string line;
            if (!take_client_line(out, std::max(settings_.max_line, kMaxSaslLine), line)) {
                return;
            }
            --conts_;
            // SASL responses and IDLE's DONE are not commands: relayed as a line.
            out.to_backend += line_content(line);
            out.to_backend += "\r\n";
            break;
        }
        case Mode::command:
        case Mode::continuation:
        case Mode::skip_continuation: {
            if (mode_ == Mode::command && pending_full()) {
                return; // no new command until the backend has answered some
            }
            std::string line;
            if (!take_client_line(out, settings_.max_line, line)) {
                return;
            }
            std::string_view content = line_content(line);
            if (mode_ == Mode::command) {
                handle_command(content, out);
            } else if (mode_ == Mode::continuation) {
                handle_continuation(content, out);
            } else {
                handle_skipped_continuation(content, out);
            }
            break;
        }
        }
    }
}

void ImapFilter::handle_command(std::string_view content, Actions& out) {
    using Shape = LiteralSpec::Shape;
    if (content.empty()) {
        invalid(out, "* BAD Empty command line.\r\n", "empty line");
        return;
    }
    LiteralSpec lit = scan_segment(content, SegmentStart::token_start);
    if (lit.shape == Shape::malformed_literal) {
        // Dovecot reads such a brace as part of an atom (or, glued to a quoted string, as a
        // literal): what the client sends next is data to one reader and commands to the other.
        // Nothing of it is relayed; the connection ends.
        ++counters_.commands_refused;
        log(out, config::LogLevel::warning, "malformed literal announcement, closing");
        reply_and_close(out, "* BYE Invalid literal announcement.\r\n", "malformed literal");
        return;
    }
    Words w = split_first_word(content);
    std::string tag(w.first);
    if (has_forbidden_octets(content) || !valid_tag(tag)) {
        invalid(out, "* BAD Invalid tag or characters in command line.\r\n", "bad line");
        skip_refused_literal(lit, out);
        return;
    }
    if (!tls_ && settings_.auth_requires_tls && auth_verb(tag)) {
        // "LOGIN user pass" without a tag: the backend would refuse it, but only after the
        // password crossed in plaintext.
        refuse(out, tag, "* BAD Missing tag.\r\n", true, "authentication before TLS");
        auth_refused();
        skip_refused_literal(lit, out);
        return;
    }
    Words v = split_first_word(w.rest);
    if (!w.has_rest || !valid_verb(v.first)) {
        invalid(out, fmt::format("{} BAD Missing or invalid command.\r\n", tag), "no command");
        skip_refused_literal(lit, out);
        return;
    }
    if (lit.shape == Shape::unbalanced_quote) {
        invalid(out, fmt::format("{} BAD Unterminated quoted string.\r\n", tag), "bad quoting");
        return;
    }
    if (lit.shape == Shape::stray_brace) {
        invalid(out, fmt::format("{} BAD Invalid characters in atom.\r\n", tag), "stray brace");
        return;
    }
    std::string verb = to_upper(v.first);
    bool has_args = v.has_rest && !v.rest.empty();
    bool auth_cmd = verb == "LOGIN" || verb == "AUTHENTICATE";
    if (refuse_sasl_response(out, known_verb(verb),
                             fmt::format("{} BAD Unknown command.\r\n", tag))) {
        skip_refused_literal(lit, out);
        return;
    }

    if (tag_pending(tag)) {
        invalid(out, fmt::format("{} BAD Tag already in use.\r\n", tag), "duplicate tag");
        skip_refused_literal(lit, out);
        return;
    }
    if (verb == "STARTTLS") {
        if (tls_) {
            refuse(out, verb, fmt::format("{} BAD TLS is already active.\r\n", tag), false,
                   "TLS already active");
        } else if (authenticated_) {
            refuse(out, verb, fmt::format("{} BAD Already authenticated.\r\n", tag), false,
                   "already authenticated");
        } else if (has_args) {
            invalid(out, fmt::format("{} BAD STARTTLS takes no arguments.\r\n", tag),
                    "STARTTLS with arguments");
        } else {
            accept_starttls(out, fmt::format("{} OK Begin TLS negotiation now.\r\n", tag));
            return;
        }
        skip_refused_literal(lit, out);
        return;
    }
    if (!tls_ && settings_.auth_requires_tls && auth_cmd) {
        // Refused on the command line itself: no "+" ever goes out, so no secret comes in.
        refuse(out, verb, fmt::format("{} {}", tag, kPrivacyRequired), true,
               "authentication before TLS");
        auth_refused();
        skip_refused_literal(lit, out);
        return;
    }
    if (!tls_ && settings_.starttls_policy == config::StarttlsPolicy::encrypt &&
        !allowed_before_tls(verb)) {
        refuse(out, verb,
               fmt::format("{} NO [PRIVACYREQUIRED] TLS required, use STARTTLS first.\r\n", tag),
               false, "TLS required");
        skip_refused_literal(lit, out);
        return;
    }
    if (lit.has_literal() && !literal_acceptable(lit)) {
        refuse(out, verb, fmt::format("{} NO [TOOBIG] Literal too large.\r\n", tag), false,
               "literal too large");
        skip_refused_literal(lit, out);
        return;
    }

    std::string storage;
    forward_command(out, verb, as_synchronizing(content, lit, storage));
    pending_tags_.emplace(tag, expect(auth_cmd ? k_login : k_normal, tag));
    cur_tag_ = tag;
    cur_exchange_ = verb == "AUTHENTICATE" || verb == "IDLE";
    conts_ = 0;
    enter_mode_after(lit);
}

void ImapFilter::enter_mode_after(const LiteralSpec& lit) {
    if (lit.has_literal()) {
        // Always the backend's "+" first (the literal went out as synchronizing).
        mode_ = Mode::await_continuation;
        pending_literal_ = lit.size;
        pending_literal_sync_ = lit.sync;
    } else {
        mode_ = cur_exchange_ ? Mode::exchange : Mode::command;
    }
}

void ImapFilter::literal_refused_by_backend() {
    if (pending_literal_sync_) {
        mode_ = Mode::command; // the client waits for a "+" that never comes: nothing follows
        return;
    }
    // LITERAL+: the client sent the octets anyway; they were never the backend's.
    mode_ = Mode::skip_literal;
    literal_left_ = pending_literal_;
}

void ImapFilter::handle_continuation(std::string_view content, Actions& out) {
    LiteralSpec lit = scan_segment(content, SegmentStart::after_literal);
    const bool acceptable =
        lit.shape == LiteralSpec::Shape::plain || (lit.has_literal() && literal_acceptable(lit));
    if (has_forbidden_octets(content) || !acceptable) {
        // The backend already has the start of this command: nothing sensible can follow.
        ++counters_.commands_refused;
        log(out, config::LogLevel::warning, "invalid continuation of a command, closing");
        reply_and_close(out, "* BYE Invalid command continuation.\r\n", "invalid command");
        return;
    }
    std::string storage;
    std::string_view line = as_synchronizing(content, lit, storage);
    out.to_backend += line; // the rest of a command already counted as forwarded
    out.to_backend += "\r\n";
    enter_mode_after(lit);
}

void ImapFilter::handle_skipped_continuation(std::string_view content, Actions& out) {
    LiteralSpec lit = scan_segment(content, SegmentStart::after_literal);
    if (lit.shape == LiteralSpec::Shape::malformed_literal) {
        log(out, config::LogLevel::warning, "malformed literal announcement, closing");
        reply_and_close(out, "* BYE Invalid literal announcement.\r\n", "malformed literal");
        return;
    }
    skip_refused_literal(lit, out);
}

void ImapFilter::process_backend(Actions& out) {
    BoundedLines::Piece p;
    while (!backend_paused()) {
        if (backend_literal_left_ > 0) {
            std::string_view raw = bin_.take_raw(backend_literal_left_);
            if (raw.empty()) {
                return;
            }
            out.to_client += raw; // literal data: never parsed, never rewritten
            backend_literal_left_ -= raw.size();
            continue;
        }
        if (!bin_.next(p)) {
            return;
        }
        if (p.starts_line && p.ends_line) {
            handle_backend_line(p.text, out);
            continue;
        }
        // Overlong backend line: passed through, only its tag and a trailing literal matter.
        if (p.starts_line) {
            backend_tail_.clear();
            handle_backend_line(p.text, out);
        } else {
            out.to_client += p.text;
        }
        std::string_view text = p.ends_line ? line_content(p.text) : p.text;
        backend_tail_ += text;
        if (backend_tail_.size() > 64) {
            backend_tail_.erase(0, backend_tail_.size() - 64);
        }
        if (p.ends_line) {
            handle_backend_line_end(backend_tail_);
            if (deferred_tagged_) {
                std::string tagged = std::move(*deferred_tagged_);
                deferred_tagged_.reset();
                complete_tagged(tagged, out);
            }
        }
    }
}

void ImapFilter::handle_backend_line_end(std::string_view tail) {
    uint64_t size = 0;
    bool sync = true;
    bool too_big = false;
    if (trailing_literal(tail, size, sync, too_big)) {
        backend_literal_left_ = size;
        backend_after_literal_ = true;
    }
}

// `line` is a whole line (with its terminator) or the first fragment of an overlong one.
void ImapFilter::handle_backend_line(std::string_view line, Actions& out) {
    bool whole = !line.empty() && line.back() == '\n';
    std::string_view content = whole ? line_content(line) : line;
    std::string_view terminator = line.substr(content.size());

    if (backend_after_literal_) {
        // The rest of a response line after a literal: data, not a new response.
        backend_after_literal_ = false;
        out.to_client += line;
        if (whole) {
            handle_backend_line_end(content);
        }
        return;
    }
    if (!greeting_done_) {
        greeting_done_ = true;
        if (istarts_with(content, "* PREAUTH")) {
            if (!tls_ && settings_.starttls_policy == config::StarttlsPolicy::encrypt) {
                // An authenticated session in plaintext is exactly what "encrypt" forbids:
                // the backend is misconfigured, and nothing of it may reach the client.
                ++counters_.commands_refused;
                log(out, config::LogLevel::error,
                    "backend greeted with PREAUTH before TLS (a plaintext session already "
                    "logged in); closing: disable preauthentication in the backend for this "
                    "service");
                reply_and_close(out, "* BYE [UNAVAILABLE] Server misconfigured.\r\n",
                                "backend PREAUTH before TLS");
                return;
            }
            authenticated_ = true;
        }
        out.to_client += whole ? rewrite_capability_code(content) : std::string(content);
        out.to_client += terminator;
        return;
    }
    if (content.starts_with("+")) {
        if (mode_ == Mode::await_continuation) {
            // The backend takes the literal: only now do its octets go. A LITERAL+ client
            // sent them already and expects no "+".
            if (pending_literal_sync_) {
                out.to_client += line;
            }
            mode_ = Mode::literal;
            literal_left_ = pending_literal_;
            return;
        }
        out.to_client += line;
        if (mode_ == Mode::exchange) {
            ++conts_;
        }
        return;
    }
    if (content.starts_with("* ")) {
        std::optional<std::string_view> caps = capability_response(content);
        if (whole && caps) {
            out.to_client += "* CAPABILITY ";
            out.to_client += rewrite_capability_list(*caps);
            out.to_client += terminator;
        } else {
            out.to_client += whole ? rewrite_capability_code(content) : std::string(content);
            out.to_client += terminator;
        }
        if (whole) {
            handle_backend_line_end(content);
        }
        return;
    }
    // Tagged completion.
    if (!tag_pending(split_first_word(content).first)) {
        // A reply to a command the filter never forwarded: the backend parsed as a command
        // something the filter took for data (or it is not an IMAP server). Fail closed.
        ++counters_.commands_refused;
        log(out, config::LogLevel::warning,
            "backend answered a command that was never sent as one, closing");
        reply_and_close(out, "* BYE Internal protocol error.\r\n", "backend out of step");
        return;
    }
    out.to_client += whole ? rewrite_capability_code(content) : std::string(content);
    out.to_client += terminator;
    if (whole) {
        complete_tagged(content, out);
    } else {
        // Overlong: act on it once its last octet went out, so that no reply of ours lands
        // in the middle of it.
        deferred_tagged_ = std::string(content.substr(0, 1024));
    }
}

void ImapFilter::complete_tagged(std::string_view content, Actions& out) {
    Words w = split_first_word(content);
    auto it = pending_tags_.find(std::string(w.first));
    if (it != pending_tags_.end()) {
        Slot* slot = slot_at(it->second);
        pending_tags_.erase(it);
        if (slot != nullptr) {
            std::string status = to_upper(split_first_word(w.rest).first);
            if (slot->kind == k_login && status == "OK") {
                authenticated_ = true;
            }
            slot->done = true;
            if (slot->tag == cur_tag_) {
                if (mode_ == Mode::literal || mode_ == Mode::continuation) {
                    // The backend ended a command the client is still sending: the rest would
                    // be data to us and commands to it.
                    ++counters_.commands_refused;
                    log(out, config::LogLevel::warning,
                        "backend completed a command before its end, closing");
                    reply_and_close(out, "* BYE Server ended a command before its end.\r\n",
                                    "backend ended a command early");
                    return;
                }
                if (mode_ == Mode::await_continuation) {
                    literal_refused_by_backend();
                } else if (mode_ == Mode::exchange) {
                    mode_ = Mode::command; // exchange over
                    conts_ = 0;
                }
            }
        }
    }
    flush_queue(out);
}

std::string ImapFilter::rewrite_capability_code(std::string_view content) {
    // A "[CAPABILITY ...]" response code in a greeting or another status response. Response
    // data (FETCH, LIST, ...) is never rewritten, whatever its strings hold.
    const CapabilityCode code = status_capability_code(content);
    if (!code.found()) {
        return std::string(content);
    }
    std::string r(content.substr(0, code.begin));
    r += "[CAPABILITY ";
    r += rewrite_capability_list(code.atoms);
    r += content.substr(code.end);
    return r;
}

std::string ImapFilter::rewrite_capability_list(std::string_view caps) {
    std::string r;
    for (std::string_view tok : capability_atoms(caps)) {
        if (iequals(tok, "STARTTLS") || iequals(tok, "LOGINDISABLED")) {
            continue; // ours to decide
        }
        if (!tls_ && settings_.auth_requires_tls && istarts_with(tok, "AUTH=")) {
            continue;
        }
        if (!r.empty()) {
            r += ' ';
        }
        r += tok;
    }
    if (!tls_ && !authenticated_) {
        r += r.empty() ? "STARTTLS" : " STARTTLS";
        if (settings_.auth_requires_tls) {
            r += " LOGINDISABLED";
        }
    }
    return r;
}

void ImapFilter::after_tls(Actions&) {
    mode_ = Mode::command;
    conts_ = 0;
}

bool ImapFilter::backend_mid_line() const {
    return FilterBase::backend_mid_line() || backend_literal_left_ > 0 || backend_after_literal_;
}

bool ImapFilter::can_step_aside() const {
    return tls_ && authenticated_ && greeting_done_ && queue_.empty() && mode_ == Mode::command &&
           backend_literal_left_ == 0;
}

} // namespace tlsgate::proto
