#include "tlsgate/proto/imap_client_prelude.hpp"

#include "tlsgate/proto/line_buffer.hpp"

#include <fmt/format.h>

namespace tlsgate::proto {

namespace {

// The span of a leading "[CAPABILITY ...]" response code in resp-text (with the space after
// it), or npos when resp-text has none.
struct CodeSpan {
    size_t length = std::string_view::npos;
    std::string_view atoms;
};

CodeSpan capability_code(std::string_view resp_text) {
    CodeSpan span;
    if (resp_text.empty() || resp_text.front() != '[') {
        return span;
    }
    auto close = resp_text.find(']');
    if (close == std::string_view::npos) {
        return span;
    }
    Words w = split_first_word(resp_text.substr(1, close - 1));
    if (!iequals(w.first, "CAPABILITY")) {
        return span;
    }
    span.atoms = w.rest;
    span.length = close + 1;
    if (span.length < resp_text.size() && resp_text[span.length] == ' ') {
        ++span.length;
    }
    return span;
}

} // namespace

void ImapClientPrelude::on_line(std::string_view content, Actions& out) {
    switch (stage_) {
    case Stage::greeting:
        on_greeting(content, out);
        return;
    case Stage::capability:
        on_capability_reply(content, out);
        return;
    case Stage::starttls:
        on_starttls_reply(content, out);
        return;
    }
}

void ImapClientPrelude::on_greeting(std::string_view content, Actions& out) {
    Words star = split_first_word(content);
    Words status = split_first_word(star.rest);
    if (star.first != "*" || !star.has_rest) {
        fail(out, fmt::format("unexpected greeting: {}", content));
        return;
    }
    if (iequals(status.first, "PREAUTH")) {
        fail(out, "server greeting is PREAUTH: STARTTLS impossible");
        return;
    }
    if (iequals(status.first, "BYE")) {
        fail(out, fmt::format("server unavailable: {}", content));
        return;
    }
    if (!iequals(status.first, "OK")) {
        fail(out, fmt::format("unexpected greeting: {}", content));
        return;
    }
    note_code_capabilities(status.rest);
    if (starttls_) {
        ask_starttls(out);
        return;
    }
    send(out, fmt::format("{} CAPABILITY\r\n", kCapabilityTag));
    stage_ = Stage::capability;
}

void ImapClientPrelude::on_capability_reply(std::string_view content, Actions& out) {
    Words tag = split_first_word(content);
    Words status = split_first_word(tag.rest);
    if (tag.first == "*") {
        if (iequals(status.first, "CAPABILITY")) {
            note_capabilities(status.rest);
        } else if (iequals(status.first, "BYE")) {
            fail(out, fmt::format("server unavailable: {}", content));
        }
        return; // other untagged data is of no interest here
    }
    if (tag.first != kCapabilityTag) {
        fail(out, fmt::format("unexpected server response: {}", content));
        return;
    }
    if (iequals(status.first, "OK")) {
        note_code_capabilities(status.rest);
        if (!starttls_) {
            fail(out, "server offers no STARTTLS");
            return;
        }
        ask_starttls(out);
        return;
    }
    if (iequals(status.first, "NO") || iequals(status.first, "BAD")) {
        fail(out, fmt::format("CAPABILITY refused: {}", tag.rest));
        return;
    }
    fail(out, fmt::format("unexpected server response: {}", content));
}

void ImapClientPrelude::on_starttls_reply(std::string_view content, Actions& out) {
    Words tag = split_first_word(content);
    Words status = split_first_word(tag.rest);
    if (tag.first == "*") {
        if (iequals(status.first, "BYE")) {
            fail(out, fmt::format("server unavailable: {}", content));
        }
        return;
    }
    if (tag.first != kStarttlsTag) {
        fail(out, fmt::format("unexpected server response: {}", content));
        return;
    }
    if (iequals(status.first, "OK")) {
        go_ahead(out);
        return;
    }
    if (iequals(status.first, "NO") || iequals(status.first, "BAD")) {
        fail(out, fmt::format("STARTTLS refused: {}", tag.rest));
        return;
    }
    fail(out, fmt::format("unexpected server response: {}", content));
}

void ImapClientPrelude::note_capabilities(std::string_view atoms) {
    while (!atoms.empty()) {
        Words w = split_first_word(atoms);
        if (iequals(w.first, "STARTTLS")) {
            starttls_ = true;
        }
        atoms = w.rest;
    }
}

void ImapClientPrelude::note_code_capabilities(std::string_view resp_text) {
    CodeSpan span = capability_code(resp_text);
    if (span.length != std::string_view::npos) {
        note_capabilities(span.atoms);
    }
}

void ImapClientPrelude::ask_starttls(Actions& out) {
    send(out, fmt::format("{} STARTTLS\r\n", kStarttlsTag));
    stage_ = Stage::starttls;
}

} // namespace tlsgate::proto
