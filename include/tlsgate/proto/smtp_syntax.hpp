#pragma once

#include <cstdint>
#include <string_view>

namespace tlsgate::proto::smtp_syntax {

// SMTP syntax (RFC 5321, RFC 3030) shared by the server filter and the client prelude: pure
// functions, no state.

// --- Replies (what a server sends) ----------------------------------------------------------

// One reply line without its CRLF, RFC 5321 4.2: Reply-code [ ( SP / "-" ) textstring ].
// Parsing never fails: a reader decides what a malformed line means to it. The server filter
// relays whatever its backend sends and only needs to know where a reply ends (a line whose
// fourth octet is not "-" ends it, as clients read it); the client prelude refuses a line
// that is not well_formed().
struct ReplyLine {
    enum class Separator {
        none,   // the line has at most three octets
        space,  // "250 text": the last line of the reply
        hyphen, // "250-text": more lines follow
        other,  // anything else as the fourth octet ("250\ttext"): malformed
    };
    std::string_view code; // the first three octets (fewer in a shorter line), not checked
    Separator separator = Separator::none;
    std::string_view text; // after the fourth octet

    // More lines of this reply follow.
    bool continues() const { return separator == Separator::hyphen; }
    // Three digits, then nothing, SP or "-".
    bool well_formed() const;
    // The code as a number, or -1 unless well_formed().
    int number() const;
};
ReplyLine parse_reply_line(std::string_view content);

// The keyword of an EHLO reply line's text (RFC 5321 ehlo-line: the keyword, then its
// parameters after SP), as written: "AUTH PLAIN" gives "AUTH", "AUTH=PLAIN" (the old form)
// "AUTH=PLAIN". Callers compare it without regard to case.
std::string_view ehlo_keyword(std::string_view text);

// --- Commands (what a client sends) ---------------------------------------------------------

// A command verb as the filter accepts it: 1 to 40 letters, digits, "-", "_".
bool valid_verb(std::string_view verb);
// A command of RFC 5321 or a common extension (upper case).
bool known_verb(std::string_view verb);
// A line the client meant as BDAT, however malformed ("BDAT\t5", "bdat"): its chunk follows
// without waiting for a reply.
bool looks_like_bdat(std::string_view content);
// The arguments of "BDAT <size> [LAST]" (RFC 3030): at most 18 digits, then nothing or
// " LAST" (any case).
bool parse_bdat(std::string_view args, uint64_t& size);

} // namespace tlsgate::proto::smtp_syntax
