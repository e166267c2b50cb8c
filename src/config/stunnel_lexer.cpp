// stunnel.conf as sections of options: lines, comments, [sections], include = DIR, and the
// encoding checks.
#include "stunnel_parts.hpp"
#include "tlsgate/config/read_file.hpp"

#include <cstring>

namespace tlsgate::config::stunnel_conf {

constexpr int max_include_depth = 8;

// Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
bool valid_utf8(std::string_view text) {
    size_t i = 0;
    while (i < text.size()) {
        const auto c = static_cast<unsigned char>(text[i]);
        size_t extra = 0;
        uint32_t code = 0;
        if (c < 0x80) {
            ++i;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            extra = 1;
            code = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            extra = 2;
            code = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            extra = 3;
            code = c & 0x07;
        } else {
            return false;
        }
        if (i + extra >= text.size()) {
            return false; // truncated sequence
        }
        for (size_t k = 1; k <= extra; ++k) {
            const auto next = static_cast<unsigned char>(text[i + k]);
            if ((next & 0xC0) != 0x80) {
                return false;
            }
            code = (code << 6) | (next & 0x3F);
        }
        if ((extra == 2 && (code < 0x800 || (code >= 0xD800 && code <= 0xDFFF))) ||
            (extra == 3 && (code < 0x10000 || code > 0x10FFFF))) {
            return false;
        }
        i += extra + 1;
    }
    return true;
}

void StunnelLoader::lex(std::string_view text, const std::string& file, int depth) {
    // A UTF-8 byte order mark (Windows editors write one) is skipped, as stunnel does.
    if (text.starts_with("\xEF\xBB\xBF")) {
        text.remove_prefix(3);
    }
    int line_no = 0;
    while (!text.empty()) {
        size_t nl = text.find('\n');
        std::string_view raw = text.substr(0, nl);
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
        ++line_no;
        std::string_view line = trim(raw);
        Location at{file, line_no};
        if (line.empty() || line.front() == ';' || line.front() == '#') {
            continue;
        }
        // Values end up in the model, in log lines and in --print-toml's TOML, which must be
        // UTF-8: a file in another encoding (a Latin-1 path) is named here, not mangled later.
        if (!valid_utf8(line)) {
            error(at, "", "this line is not valid UTF-8 (save the file as UTF-8)");
            continue;
        }
        if (line.find('\0') != std::string_view::npos) {
            error(at, "", "this line contains a NUL byte");
            continue;
        }
        if (line.front() == '[') {
            if (line.back() != ']' || line.starts_with("[[")) {
                error(at, "", fmt::format("invalid section header \"{}\": expected [name]", line));
                continue;
            }
            std::string name(trim(line.substr(1, line.size() - 2)));
            if (!valid_service_name(name)) {
                error(at, fmt::format("service[{}]", name),
                      fmt::format("invalid service name \"{}\": use letters, digits, '.', '_' "
                                  "and '-' only",
                                  name));
            }
            for (const Section& s : sections_) {
                if (!s.name.empty() && s.name == name) {
                    error(at, fmt::format("service[{}]", name),
                          fmt::format("duplicate section [{}] (first at {}:{})", name, s.where.file,
                                      s.where.line));
                }
            }
            sections_.push_back(Section{name, at, {}});
            continue;
        }
        size_t eq = line.find('=');
        if (eq == std::string_view::npos) {
            error(at, "", fmt::format("expected \"option = value\", got \"{}\"", line));
            continue;
        }
        Option o;
        std::string written(trim(line.substr(0, eq)));
        o.value = std::string(trim(line.substr(eq + 1)));
        o.where = at;
        if (written.empty()) {
            error(at, "", fmt::format("missing option name in \"{}\"", line));
            continue;
        }
        std::string lowered = lower(written);
        if (lowered == "include") {
            o.name = "include";
            include(o, depth);
            continue;
        }
        o.spec = find_spec(lowered);
        o.name = o.spec ? std::string(o.spec->name) : written;
        sections_.back().options.push_back(std::move(o));
    }
}

void StunnelLoader::include(const Option& o, int depth) {
    const std::string key = sections_.back().name.empty()
                                ? "global.include"
                                : fmt::format("service[{}].include", sections_.back().name);
    if (depth >= max_include_depth) {
        error(o.where, key, fmt::format("includes nested deeper than {}", max_include_depth));
        include_failed_ = true;
        return;
    }
    auto dir = path(o, key);
    if (!dir) {
        include_failed_ = true;
        return;
    }
    std::error_code ec;
    std::vector<std::string> files;
    for (fs::directory_iterator it(*dir, ec), end; !ec && it != end; it.increment(ec)) {
        if (it->is_regular_file()) {
            files.push_back(it->path().string());
        }
    }
    if (ec) {
        error(o.where, key, fmt::format("cannot read directory {}: {}", *dir, ec.message()));
        include_failed_ = true;
        return;
    }
    // stunnel includes the files in ascending alphabetical order of their names.
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
        std::string text;
        if (int err = read_whole_file(f, text)) {
            error(o.where, key, fmt::format("cannot read {}: {}", f, std::strerror(err)));
            include_failed_ = true;
            continue;
        }
        lex(text, f, depth + 1);
    }
}

} // namespace tlsgate::config::stunnel_conf
