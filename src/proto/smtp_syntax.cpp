#include "tlsgate/proto/smtp_syntax.hpp"

#include "tlsgate/proto/line_buffer.hpp"

#include <algorithm>
#include <iterator>

namespace tlsgate::proto::smtp_syntax {

namespace {

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

bool is_verb_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit(c) || c == '-' || c == '_';
}

} // namespace

ReplyLine parse_reply_line(std::string_view content) {
    ReplyLine r;
    r.code = content.substr(0, 3);
    if (content.size() <= 3) {
        return r;
    }
    switch (content[3]) {
    case ' ':
        r.separator = ReplyLine::Separator::space;
        break;
    case '-':
        r.separator = ReplyLine::Separator::hyphen;
        break;
    default:
        r.separator = ReplyLine::Separator::other;
        break;
    }
    r.text = content.substr(4);
    return r;
}

bool ReplyLine::well_formed() const {
    return code.size() == 3 && std::all_of(code.begin(), code.end(), is_digit) &&
           separator != Separator::other;
}

int ReplyLine::number() const {
    if (!well_formed()) {
        return -1;
    }
    return (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
}

std::string_view ehlo_keyword(std::string_view text) {
    return split_first_word(text).first;
}

bool valid_verb(std::string_view verb) {
    return !verb.empty() && verb.size() <= 40 &&
           std::all_of(verb.begin(), verb.end(), is_verb_char);
}

bool known_verb(std::string_view verb) {
    static constexpr std::string_view kVerbs[] = {
        "HELO", "EHLO", "MAIL",     "RCPT", "DATA", "BDAT", "RSET", "VRFY",    "EXPN",    "HELP",
        "NOOP", "QUIT", "STARTTLS", "AUTH", "ETRN", "TURN", "ATRN", "XCLIENT", "XFORWARD"};
    return std::find(std::begin(kVerbs), std::end(kVerbs), verb) != std::end(kVerbs);
}

bool looks_like_bdat(std::string_view content) {
    if (!istarts_with(content, "BDAT")) {
        return false;
    }
    return content.size() == 4 || !is_verb_char(content[4]);
}

bool parse_bdat(std::string_view args, uint64_t& size) {
    Words w = split_first_word(args);
    if (w.first.empty() || w.first.size() > 18 ||
        !std::all_of(w.first.begin(), w.first.end(), is_digit)) {
        return false;
    }
    size = 0;
    for (char c : w.first) {
        size = size * 10 + static_cast<uint64_t>(c - '0');
    }
    return !w.has_rest || iequals(w.rest, "LAST");
}

} // namespace tlsgate::proto::smtp_syntax
