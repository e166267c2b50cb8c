#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tlsgate::proto::imap_syntax {

// IMAP syntax shared by the server filter and the client prelude: pure functions, no state.
//
// Commands (what a client sends) as both RFC 9051 and Dovecot read them, for the filter in
// front of the daemon. Where the two readers differ, these answer so that the filter refuses
// (see tests/differential/ for the comparison with a real Dovecot).

// RFC 9051's tag (ASTRING-CHAR except "+"), at most 126 octets as Dovecot takes them.
bool valid_tag(std::string_view tag);
// A command name: letters, digits, "-", "_", ".".
bool valid_verb(std::string_view verb);
// CR or NUL inside a command line.
bool has_forbidden_octets(std::string_view content);
// LOGIN or AUTHENTICATE, any case.
bool auth_verb(std::string_view word);
// A command of RFC 9051 or a common extension (upper case).
bool known_verb(std::string_view verb);
// Served before TLS under starttls_policy "encrypt" (upper case).
bool allowed_before_tls(std::string_view verb);
// `{n}` / `{n+}` at the very end of `s` (no quote tracking; for backend response lines).
bool trailing_literal(std::string_view s, uint64_t& size, bool& sync, bool& too_big);

// How a command line (or the rest of one after a literal) ends, read token by token as
// RFC 9051 and Dovecot both read it. A literal is announced only by a whole `{N}`,
// `{N+}`, `~{N}` or `~{N+}` at the very end, after SP or "(" (Dovecot also takes one
// right after a quoted string or ")", RFC 9051 does not: such a line is malformed here).
struct LiteralSpec {
    enum class Shape {
        plain,             // no literal follows
        literal,           // a literal follows
        unbalanced_quote,  // a quoted string runs past the end of the line
        stray_brace,       // "{" outside a quoted string, not at the line's end
        malformed_literal, // the line ends like a literal that is not one
    };
    Shape shape = Shape::plain;
    bool sync = true;
    bool too_big_number = false;
    uint64_t size = 0;
    bool has_literal() const { return shape == Shape::literal; }
};
// Where a segment starts: a command line starts a token; the rest of a line after a
// literal continues one, so a "{" right there is glued to the literal.
enum class SegmentStart { token_start, after_literal };
LiteralSpec scan_segment(std::string_view content, SegmentStart start);
// The segment as the backend gets it: a non-synchronizing literal becomes a synchronizing
// one, so its octets go only after the backend's own "+".
std::string_view as_synchronizing(std::string_view content, const LiteralSpec& lit,
                                  std::string& storage);

// --- Capabilities (what a server sends) -----------------------------------------------------

// The atoms of an untagged "* CAPABILITY a b c" response (the word CAPABILITY in any case),
// or nullopt for any other line.
std::optional<std::string_view> capability_response(std::string_view content);

// A "[CAPABILITY a b c]" response code (any case): the octets from its "[" up to, not
// including, its "]", and the atom list between.
struct CapabilityCode {
    size_t begin = std::string_view::npos; // offset of "[", npos when there is none
    size_t end = 0;                        // offset of the "]" that closes it
    std::string_view atoms;
    bool found() const { return begin != std::string_view::npos; }
};
// The code that opens resp-text, the only place RFC 9051 puts one ("[CAPABILITY a b] text").
CapabilityCode capability_code(std::string_view resp_text);
// The code of a status response line, tagged or untagged OK, NO, BAD, PREAUTH or BYE (any
// case), where it opens the resp-text after the status; offsets are the line's. Any other
// line (response data such as FETCH or LIST) has none, whatever its text holds.
CapabilityCode status_capability_code(std::string_view line);

// The capability atoms of a list, in order (separated by one or more spaces).
std::vector<std::string_view> capability_atoms(std::string_view list);
// `name` is one of the atoms of `list` (any case).
bool has_capability(std::string_view list, std::string_view name);

} // namespace tlsgate::proto::imap_syntax
