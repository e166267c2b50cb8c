#include "tlsgate/proto/pop3_syntax.hpp"

#include "tlsgate/proto/line_buffer.hpp"

#include <algorithm>
#include <iterator>

namespace tlsgate::proto::pop3_syntax {

Status status(std::string_view content) {
    std::string_view word = split_first_word(content).first;
    if (iequals(word, "+OK")) {
        return Status::ok;
    }
    if (iequals(word, "-ERR")) {
        return Status::err;
    }
    return Status::other;
}

bool starts_positive(std::string_view content) {
    return istarts_with(content, "+OK");
}

bool starts_continuation(std::string_view content) {
    return content.starts_with("+");
}

bool is_terminator(std::string_view content) {
    return content == ".";
}

std::string_view unstuff(std::string_view content) {
    if (content.starts_with(".")) {
        content.remove_prefix(1);
    }
    return content;
}

std::string_view capa_keyword(std::string_view content) {
    return split_first_word(content).first;
}

bool valid_keyword(std::string_view word) {
    return !word.empty() && word.size() <= 40 && std::all_of(word.begin(), word.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_';
    });
}

bool known_verb(std::string_view verb) {
    static constexpr std::string_view kVerbs[] = {"USER", "PASS", "APOP", "AUTH",   "STLS", "CAPA",
                                                  "QUIT", "STAT", "LIST", "RETR",   "DELE", "NOOP",
                                                  "RSET", "TOP",  "UIDL", "XCLIENT"};
    return std::find(std::begin(kVerbs), std::end(kVerbs), verb) != std::end(kVerbs);
}

} // namespace tlsgate::proto::pop3_syntax
