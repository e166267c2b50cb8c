#include "tlsgate/proto/imap_syntax.hpp"

#include "tlsgate/proto/line_buffer.hpp"

#include <algorithm>
#include <iterator>

namespace tlsgate::proto::imap_syntax {

namespace {

// `{N}` / `{N+}` exactly, from `open` (the "{") to the end of `s`.
bool literal_announcement(std::string_view s, size_t open, uint64_t& size, bool& sync,
                          bool& too_big) {
    if (s.back() != '}' || s.size() - open < 3) {
        return false;
    }
    std::string_view inner = s.substr(open + 1, s.size() - open - 2);
    sync = true;
    if (inner.back() == '+') {
        sync = false;
        inner.remove_suffix(1);
    }
    if (inner.empty() ||
        !std::all_of(inner.begin(), inner.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return false;
    }
    too_big = false;
    uint64_t v = 0;
    for (char c : inner) {
        if (v > (UINT64_MAX - 9) / 10) {
            too_big = true;
            v = UINT64_MAX;
            break;
        }
        v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    size = v;
    return true;
}

} // namespace

// RFC 9051's tag: ASTRING-CHAR except "+", where ASTRING-CHAR excludes the atom-specials
// (resp-specials "]" among them). Dovecot refuses exactly these (it takes DEL, which is
// refused here: a command refused by the filter never reaches it).
bool valid_tag(std::string_view tag) {
    // Dovecot answers a longer tag with an untagged BAD only (IMAP_TAG_MAX_LEN): a command
    // forwarded with one would never get the reply the filter waits for.
    constexpr size_t kMaxTag = 126;
    if (tag.empty() || tag.size() > kMaxTag) {
        return false;
    }
    for (char c : tag) {
        auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7f || c == '(' || c == ')' || c == '{' || c == '%' || c == '*' ||
            c == '"' || c == '\\' || c == '+' || c == ']') {
            return false;
        }
    }
    return true;
}

bool valid_verb(std::string_view verb) {
    if (verb.empty()) {
        return false;
    }
    return std::all_of(verb.begin(), verb.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_' || c == '.';
    });
}

bool has_forbidden_octets(std::string_view content) {
    return content.find('\r') != std::string_view::npos ||
           content.find('\0') != std::string_view::npos;
}

bool auth_verb(std::string_view word) {
    return iequals(word, "LOGIN") || iequals(word, "AUTHENTICATE");
}

// Commands of RFC 9051 and the extensions daemons commonly offer. After an authentication
// refused before TLS, a line with any other verb is taken for the credentials a client sent
// anyway (a literal it was never asked for, a SASL response) and is not forwarded.
bool known_verb(std::string_view verb) {
    static constexpr std::string_view kVerbs[] = {
        "CAPABILITY", "NOOP",        "LOGOUT",       "STARTTLS",    "AUTHENTICATE", "LOGIN",
        "ENABLE",     "SELECT",      "EXAMINE",      "CREATE",      "DELETE",       "RENAME",
        "SUBSCRIBE",  "UNSUBSCRIBE", "LIST",         "LSUB",        "NAMESPACE",    "STATUS",
        "APPEND",     "IDLE",        "CLOSE",        "UNSELECT",    "EXPUNGE",      "SEARCH",
        "FETCH",      "STORE",       "COPY",         "MOVE",        "UID",          "ID",
        "CHECK",      "GETQUOTA",    "GETQUOTAROOT", "SETQUOTA",    "GETACL",       "SETACL",
        "DELETEACL",  "LISTRIGHTS",  "MYRIGHTS",     "GETMETADATA", "SETMETADATA",  "SORT",
        "THREAD",     "COMPRESS",    "NOTIFY",       "URLFETCH",    "GENURLAUTH",   "RESETKEY",
        "ESEARCH",    "XLIST"};
    return std::find(std::begin(kVerbs), std::end(kVerbs), verb) != std::end(kVerbs);
}

bool allowed_before_tls(std::string_view verb) {
    return verb == "CAPABILITY" || verb == "NOOP" || verb == "LOGOUT" || verb == "STARTTLS";
}

// {n} / {n+} at the very end of s (no quote tracking; used for backend lines).
bool trailing_literal(std::string_view s, uint64_t& size, bool& sync, bool& too_big) {
    if (s.empty() || s.back() != '}') {
        return false;
    }
    auto open = s.rfind('{');
    return open != std::string_view::npos && literal_announcement(s, open, size, sync, too_big);
}

LiteralSpec scan_segment(std::string_view content, SegmentStart start) {
    using Shape = LiteralSpec::Shape;
    LiteralSpec r;
    bool in_quote = false;
    bool escaped = false;
    for (size_t i = 0; i < content.size(); ++i) {
        const char c = content[i];
        if (in_quote) {
            if (escaped) {
                escaped = false;
            } else if (c == '\\') {
                escaped = true;
            } else if (c == '"') {
                in_quote = false;
            }
            continue;
        }
        if (c == '"') {
            in_quote = true;
            continue;
        }
        if (c != '{') {
            continue;
        }
        // Outside a quoted string a "{" may only open the line's final literal.
        const bool at_end = literal_announcement(content, i, r.size, r.sync, r.too_big_number);
        if (!at_end) {
            r.shape = content.back() == '}' ? Shape::malformed_literal : Shape::stray_brace;
            return r;
        }
        size_t token = (i > 0 && content[i - 1] == '~') ? i - 1 : i; // literal8: ~{N}
        char before =
            token > 0 ? content[token - 1] : (start == SegmentStart::token_start ? ' ' : '}');
        r.shape = (before == ' ' || before == '(') ? Shape::literal : Shape::malformed_literal;
        return r;
    }
    if (in_quote) {
        r.shape = Shape::unbalanced_quote;
    }
    return r;
}

std::string_view as_synchronizing(std::string_view content, const LiteralSpec& lit,
                                  std::string& storage) {
    if (!lit.has_literal() || lit.sync) {
        return content;
    }
    storage.assign(content.substr(0, content.size() - 2)); // drop "+}"
    storage += '}';
    return storage;
}

std::optional<std::string_view> capability_response(std::string_view content) {
    if (!content.starts_with("* ")) {
        return std::nullopt;
    }
    Words status = split_first_word(content.substr(2));
    if (!iequals(status.first, "CAPABILITY")) {
        return std::nullopt;
    }
    return status.rest;
}

namespace {

constexpr std::string_view kCapabilityCode = "[CAPABILITY";

// The code whose "[" is at `begin` in `s`, known to start with "[CAPABILITY" in any case.
CapabilityCode code_at(std::string_view s, size_t begin) {
    CapabilityCode code;
    const size_t list = begin + kCapabilityCode.size();
    if (list < s.size() && s[list] != ' ' && s[list] != ']') {
        return code; // a longer word: "[CAPABILITYX ...]"
    }
    const size_t close = s.find(']', list);
    if (close == std::string_view::npos) {
        return code;
    }
    code.begin = begin;
    code.end = close;
    code.atoms = s.substr(list, close - list);
    if (code.atoms.starts_with(" ")) {
        code.atoms.remove_prefix(1);
    }
    return code;
}

} // namespace

CapabilityCode capability_code(std::string_view resp_text) {
    if (!istarts_with(resp_text, kCapabilityCode)) {
        return {};
    }
    return code_at(resp_text, 0);
}

CapabilityCode status_capability_code(std::string_view line) {
    Words tag = split_first_word(line);
    Words status = split_first_word(tag.rest);
    if (!tag.has_rest || !status.has_rest) {
        return {};
    }
    static constexpr std::string_view kStatuses[] = {"OK", "NO", "BAD", "PREAUTH", "BYE"};
    if (std::none_of(std::begin(kStatuses), std::end(kStatuses),
                     [&](std::string_view s) { return iequals(status.first, s); })) {
        return {};
    }
    CapabilityCode code = capability_code(status.rest);
    if (code.found()) {
        const size_t offset = static_cast<size_t>(status.rest.data() - line.data());
        code.begin += offset;
        code.end += offset;
    }
    return code;
}

std::vector<std::string_view> capability_atoms(std::string_view list) {
    std::vector<std::string_view> atoms;
    size_t i = 0;
    while (i < list.size()) {
        size_t j = list.find(' ', i);
        if (j == std::string_view::npos) {
            j = list.size();
        }
        if (j > i) {
            atoms.push_back(list.substr(i, j - i));
        }
        i = j + 1;
    }
    return atoms;
}

bool has_capability(std::string_view list, std::string_view name) {
    for (std::string_view atom : capability_atoms(list)) {
        if (iequals(atom, name)) {
            return true;
        }
    }
    return false;
}

} // namespace tlsgate::proto::imap_syntax
