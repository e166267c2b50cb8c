#pragma once

#include <string_view>

namespace tlsgate::proto::pop3_syntax {

// POP3 syntax (RFC 1939, RFC 2449, RFC 5034) shared by the server filter and the client
// prelude: pure functions, no state. Lines are given without their CRLF.

// --- Responses (what a server sends) --------------------------------------------------------

// The status indicator as RFC 1939 defines it: "+OK" or "-ERR" as a whole word (any case),
// followed by the end of the line or SP. The client prelude reads a server's replies so.
enum class Status { ok, err, other };
Status status(std::string_view content);
// A positive status line as the server filter reads its backend's (and as clients commonly
// do): the line starts with "+OK" in any case, whatever follows ("+OKAY" included).
bool starts_positive(std::string_view content);
// A line starting with "+": a SASL challenge (RFC 5034) once starts_positive() is ruled out.
bool starts_continuation(std::string_view content);

// The line "." that ends a multi-line response.
bool is_terminator(std::string_view content);
// A line of a multi-line response as its reader takes it: one leading "." (dot-stuffing)
// removed. Call it only on lines that are not the terminator.
std::string_view unstuff(std::string_view content);
// The capability name of a CAPA line (RFC 2449: the name, then its parameters after SP), as
// written. Callers compare it without regard to case.
std::string_view capa_keyword(std::string_view content);

// --- Commands (what a client sends) ---------------------------------------------------------

// A command keyword as the filter accepts it: 1 to 40 letters, digits, "-", "_".
bool valid_keyword(std::string_view word);
// A command of RFC 1939, RFC 2449, RFC 2595, RFC 5034 or XCLIENT (upper case).
bool known_verb(std::string_view verb);

} // namespace tlsgate::proto::pop3_syntax
