#include "toml_reader.hpp"

namespace tlsgate::config {

Result<Duration> parse_duration_detail(std::string_view text) {
    if (text.empty()) {
        return Error{"empty duration"};
    }
    if (text.front() == '-') {
        return Error{fmt::format("negative duration \"{}\"", text)};
    }
    size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
        ++digits;
    }
    if (digits == 0) {
        return Error{
            fmt::format("invalid duration \"{}\": expected a number followed by ms, s, m, h "
                        "or d",
                        text)};
    }
    constexpr int64_t max = std::numeric_limits<Duration::rep>::max();
    int64_t value = 0;
    for (size_t i = 0; i < digits; ++i) {
        int d = text[i] - '0';
        if (value > (max - d) / 10) {
            return Error{fmt::format("duration \"{}\" is too large", text)};
        }
        value = value * 10 + d;
    }
    std::string_view unit = text.substr(digits);
    int64_t ms_per_unit = 0;
    if (unit.empty() || unit == "s") {
        ms_per_unit = 1000;
    } else if (unit == "ms") {
        ms_per_unit = 1;
    } else if (unit == "m") {
        ms_per_unit = 60 * 1000;
    } else if (unit == "h") {
        ms_per_unit = 60 * 60 * 1000;
    } else if (unit == "d") {
        ms_per_unit = 24 * 60 * 60 * 1000;
    } else {
        return Error{fmt::format("unknown unit \"{}\" in duration \"{}\" (allowed: ms, s, m, h, d)",
                                 unit, text)};
    }
    if (value > max / ms_per_unit) {
        return Error{fmt::format("duration \"{}\" is too large", text)};
    }
    return Duration(value * ms_per_unit);
}

const char* type_name(const toml::node& n) {
    switch (n.type()) {
    case toml::node_type::none:
        return "nothing";
    case toml::node_type::table:
        return "a table";
    case toml::node_type::array:
        return "an array";
    case toml::node_type::string:
        return "a string";
    case toml::node_type::integer:
        return "an integer";
    case toml::node_type::floating_point:
        return "a float";
    case toml::node_type::boolean:
        return "a boolean";
    case toml::node_type::date:
        return "a date";
    case toml::node_type::time:
        return "a time";
    case toml::node_type::date_time:
        return "a date-time";
    }
    return "an unknown type";
}

int line_of(const toml::node& n) {
    return static_cast<int>(n.source().begin.line);
}

TomlReader::TomlReader(const std::string& file_name) : file_(file_name) {
    std::error_code ec;
    std::filesystem::path p =
        file_name.empty() ? std::filesystem::path(".") : std::filesystem::path(file_name);
    std::filesystem::path abs = std::filesystem::absolute(p, ec);
    base_dir_ = (ec ? p : abs).parent_path();
}

} // namespace tlsgate::config
