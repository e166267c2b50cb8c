#include "tlsgate/proto/pop3_filter.hpp"

#include "tlsgate/proto/pop3_syntax.hpp"

#include <fmt/format.h>

namespace tlsgate::proto {

using pop3_syntax::capa_keyword;
using pop3_syntax::is_terminator;
using pop3_syntax::known_verb;
using pop3_syntax::starts_continuation;
using pop3_syntax::starts_positive;
using pop3_syntax::unstuff;
using pop3_syntax::valid_keyword;

namespace {

bool allowed_before_tls(std::string_view verb) {
    return verb == "CAPA" || verb == "NOOP" || verb == "QUIT" || verb == "STLS";
}

} // namespace

constexpr ProtocolReplies kPop3Replies = {
    "-ERR [SYS/TEMP] Backend server unavailable, try again later\r\n",
    "-ERR Disconnected for inactivity.\r\n",
    "-ERR Too many invalid commands.\r\n",
    "-ERR Command line too long.\r\n",
    "-ERR Too much data sent ahead of the server.\r\n",
};

Pop3Filter::Pop3Filter(const FilterSettings& settings) : FilterBase(settings, kPop3Replies) {}

void Pop3Filter::process_client(Actions& out) {
    while (!client_stopped() && greeting_done_ && !cin_.empty()) {
        if (mode_ == Mode::exchange && conts_ == 0) {
            return; // the client waits for "+" as well
        }
        if (mode_ != Mode::exchange && pending_full()) {
            return; // no new command until the backend has answered some
        }
        size_t limit = mode_ == Mode::exchange ? kMaxSaslLine : kMaxCommandLine;
        std::string line;
        if (!take_client_line(out, limit, line)) {
            return;
        }
        std::string_view content = line_content(line);
        if (mode_ == Mode::exchange) {
            --conts_;
            out.to_backend += content; // a SASL response, not a command
            out.to_backend += "\r\n";
            continue;
        }
        handle_command(content, out);
    }
}

void Pop3Filter::handle_command(std::string_view content, Actions& out) {
    if (content.empty()) {
        invalid(out, "-ERR Empty command.\r\n", "empty line");
        return;
    }
    if (content.find('\r') != std::string_view::npos ||
        content.find('\0') != std::string_view::npos) {
        invalid(out, "-ERR Invalid characters in command.\r\n", "bad characters");
        return;
    }
    Words w = split_first_word(content);
    if (!valid_keyword(w.first)) {
        invalid(out, "-ERR Invalid command.\r\n", "bad keyword");
        return;
    }
    std::string verb = to_upper(w.first);
    if (refuse_sasl_response(out, known_verb(verb), "-ERR Invalid command.\r\n")) {
        return;
    }
    bool has_args = w.has_rest && !w.rest.empty();

    if (verb == "STLS") {
        if (tls_) {
            refuse(out, verb, "-ERR Command not permitted when TLS active\r\n", false,
                   "TLS already active");
        } else if (authenticated_) {
            refuse(out, verb, "-ERR Command not permitted in TRANSACTION state\r\n", false,
                   "already authenticated");
        } else if (has_args) {
            invalid(out, "-ERR STLS takes no arguments\r\n", "STLS with arguments");
        } else {
            accept_starttls(out, "+OK Begin TLS negotiation\r\n");
        }
        return;
    }
    if (verb == "XCLIENT" && !settings_.allow_xclient) {
        // Dovecot takes XCLIENT from login_trusted_networks, i.e. from tlsgate's address:
        // the client would choose the address and name Dovecot believes.
        refuse(out, verb, "-ERR Command not permitted\r\n", false, "not allowed for this service");
        return;
    }
    bool auth_cmd = verb == "USER" || verb == "PASS" || verb == "APOP" || verb == "AUTH";
    if (!tls_ && settings_.auth_requires_tls && auth_cmd) {
        refuse(out, verb,
               "-ERR [AUTH] Plaintext authentication disallowed on non-secure connections, "
               "use STLS first\r\n",
               true, "authentication before TLS");
        if (verb == "AUTH") {
            auth_refused();
        }
        return;
    }
    if (!tls_ && settings_.starttls_policy == config::StarttlsPolicy::encrypt &&
        !allowed_before_tls(verb)) {
        refuse(out, verb, "-ERR TLS required, use STLS first\r\n", false, "TLS required");
        return;
    }

    forward_command(out, verb, content);
    Kind kind = k_single;
    if (verb == "CAPA") {
        kind = k_capa;
    } else if (verb == "RETR" || verb == "TOP" ||
               ((verb == "LIST" || verb == "UIDL") && !has_args)) {
        kind = k_multi;
    } else if (verb == "AUTH") {
        // Dovecot takes the mechanism from between the first and the second space; without
        // one ("AUTH", "AUTH ", "AUTH  PLAIN") it lists the mechanisms: a multi-line "+OK"
        // that must never be taken for a successful login.
        bool names_mechanism = w.has_rest && !split_first_word(w.rest).first.empty();
        kind = names_mechanism ? k_auth : k_multi;
    } else if (verb == "PASS" || verb == "APOP") {
        kind = k_pass;
    }
    expect(kind);
    if (kind == k_auth) {
        mode_ = Mode::exchange;
        conts_ = 0;
    }
}

void Pop3Filter::process_backend(Actions& out) {
    BoundedLines::Piece p;
    while (!backend_paused() && bin_.next(p)) {
        if (p.starts_line) {
            handle_backend_line(p.text, p.ends_line, out);
            continue;
        }
        // Rest of an overlong line: passed through.
        out.to_client += p.text;
        if (p.ends_line && overlong_status_) {
            overlong_status_ = false;
            finish_front(out);
        }
    }
}

void Pop3Filter::handle_backend_line(std::string_view line, bool whole, Actions& out) {
    std::string_view content = whole ? line_content(line) : line;
    if (!greeting_done_) {
        greeting_done_ = true;
        out.to_client += line; // an overlong greeting's rest passes through as well
        return;
    }
    if (in_multi_) {
        if (whole && is_terminator(content)) {
            if (multi_capa_ && !tls_ && !authenticated_) {
                out.to_client += "STLS\r\n";
            }
            out.to_client += line;
            in_multi_ = false;
            multi_capa_ = false;
            finish_front(out);
            return;
        }
        if (multi_capa_ && whole) {
            handle_capa_line(line, out);
        } else {
            out.to_client += line; // message data: never rewritten
        }
        return;
    }
    Slot* slot = front_backend_slot();
    out.to_client += line;
    if (!slot) {
        return; // unsolicited (e.g. a shutdown notice)
    }
    if (starts_positive(content)) {
        if (slot->kind == k_multi || slot->kind == k_capa) {
            in_multi_ = true;
            multi_capa_ = slot->kind == k_capa;
            return;
        }
        if (slot->kind == k_pass || slot->kind == k_auth) {
            authenticated_ = true;
        }
    } else if (starts_continuation(content) && slot->kind == k_auth) {
        ++conts_; // SASL challenge: the client may answer one line
        return;
    }
    // Only AUTH's own status line ends its exchange: the reply to a command pipelined before
    // it leaves the backend still reading SASL responses after it.
    if (slot->kind == k_auth) {
        mode_ = Mode::command;
    }
    if (whole) {
        finish_front(out);
    } else {
        overlong_status_ = true;
    }
}

void Pop3Filter::handle_capa_line(std::string_view line, Actions& out) {
    // Read as the client reads it, dot-stuffing removed; relayed as it came.
    std::string keyword = to_upper(capa_keyword(unstuff(line_content(line))));
    if (keyword == "STLS") {
        return; // ours to offer: re-added at the end before TLS, never after
    }
    if (keyword == "XCLIENT" && !settings_.allow_xclient) {
        return;
    }
    if (!tls_ && settings_.auth_requires_tls && (keyword == "SASL" || keyword == "USER")) {
        return;
    }
    out.to_client += line;
}

void Pop3Filter::after_tls(Actions&) {
    mode_ = Mode::command;
    conts_ = 0;
}

bool Pop3Filter::can_step_aside() const {
    return tls_ && authenticated_ && greeting_done_ && queue_.empty() && mode_ == Mode::command &&
           !in_multi_ && !overlong_status_;
}

} // namespace tlsgate::proto
