#include "toml_reader.hpp"

#include <algorithm>

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

namespace {

// Levenshtein distance: insertions, deletions and substitutions cost one each.
size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) {
        row[j] = j;
    }
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            const size_t above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
            diagonal = above;
        }
    }
    return row[b.size()];
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
        s.remove_suffix(1);
    }
    return s;
}

bool is_bare_key_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

// The bare key that starts a "KEY = ..." line; empty for anything else.
std::string_view key_of_line(std::string_view line) {
    line = trim(line);
    size_t end = 0;
    while (end < line.size() && is_bare_key_char(line[end])) {
        ++end;
    }
    if (end == 0 || trim(line.substr(end)).substr(0, 1) != "=") {
        return {};
    }
    return line.substr(0, end);
}

// The string value of a simple `name = "VALUE"` line; empty for anything else.
std::string_view quoted_value(std::string_view line) {
    line = trim(line);
    const size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
        return {};
    }
    std::string_view value = trim(line.substr(eq + 1));
    if (value.size() < 2 || value.front() != '"' || value.back() != '"') {
        return {};
    }
    value = value.substr(1, value.size() - 2);
    const bool plain = std::all_of(value.begin(), value.end(),
                                   [](char c) { return is_bare_key_char(c) || c == '.'; });
    return plain ? value : std::string_view{};
}

} // namespace

std::string_view closest_name(std::string_view name, std::span<const std::string_view> candidates) {
    // A typo: at most a third of the name wrong (one edit for short names, three at most).
    if (name.size() > 64) {
        return {}; // no key is that long: no typo of one (and no quadratic work on junk)
    }
    const size_t allowed = std::clamp<size_t>(name.size() / 3, 1, 3);
    std::string_view best;
    size_t best_distance = allowed + 1;
    for (const std::string_view candidate : candidates) {
        const size_t d = edit_distance(name, candidate);
        if (d < best_distance && candidate != name) {
            best = candidate;
            best_distance = d;
        }
    }
    return best;
}

std::string key_at_line(std::string_view text, int line) {
    std::vector<std::string_view> lines;
    for (size_t start = 0; start <= text.size();) {
        const size_t end = std::min(text.find('\n', start), text.size());
        lines.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    if (line < 1 || static_cast<size_t>(line) > lines.size()) {
        return {};
    }
    const std::string_view key = key_of_line(lines[static_cast<size_t>(line) - 1]);
    if (key.empty()) {
        return {};
    }
    // The table the line is in: the last header above it.
    size_t header = 0;
    bool found = false;
    size_t services = 0;
    for (size_t i = 0; i + 1 < static_cast<size_t>(line); ++i) {
        const std::string_view l = trim(lines[i]);
        if (l.starts_with("[")) {
            header = i;
            found = true;
            services += l.starts_with("[[") && trim(l.substr(2)).starts_with("service") ? 1 : 0;
        }
    }
    if (!found) {
        return std::string(key);
    }
    const std::string_view h = trim(lines[header]);
    if (h.starts_with("[[")) {
        // A service: named by its "name" line when it has a plain one, else by its number.
        std::string_view name;
        for (size_t i = header + 1; i < lines.size() && !trim(lines[i]).starts_with("["); ++i) {
            if (key_of_line(lines[i]) == "name") {
                name = quoted_value(lines[i]);
            }
        }
        return name.empty() ? fmt::format("service[#{}].{}", services, key)
                            : fmt::format("service[{}].{}", name, key);
    }
    const size_t close = h.find(']');
    const std::string_view table =
        trim(h.substr(1, close == std::string_view::npos ? 0 : close - 1));
    return fmt::format("{}.{}", table, key);
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
