#include "tlsgate/proto/imap_client_prelude.hpp"

#include "tlsgate/proto/imap_syntax.hpp"
#include "tlsgate/proto/line_buffer.hpp"

#include <fmt/format.h>

namespace tlsgate::proto {

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
        if (auto atoms = imap_syntax::capability_response(content)) {
            note_capabilities(*atoms);
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
    if (imap_syntax::has_capability(atoms, "STARTTLS")) {
        starttls_ = true;
    }
}

void ImapClientPrelude::note_code_capabilities(std::string_view resp_text) {
    // Stricter than the server filter's reading: only a code that opens resp-text counts.
    imap_syntax::CapabilityCode code = imap_syntax::capability_code(resp_text);
    if (code.found()) {
        note_capabilities(code.atoms);
    }
}

void ImapClientPrelude::ask_starttls(Actions& out) {
    send(out, fmt::format("{} STARTTLS\r\n", kStarttlsTag));
    stage_ = Stage::starttls;
}

} // namespace tlsgate::proto
