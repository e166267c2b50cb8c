// The stunnel.conf front end: stunnel 5's file format and option names, mapped onto the one
// config model. Where stunnel's meaning and tlsgate's differ, a start note says so; where
// stunnel's default is weaker than bettercrypto B (ciphers, renegotiation, minimum version),
// tlsgate's hardened default stands unless the file asks explicitly.
#include "tlsgate/config/stunnel_loader.hpp"

#include "tlsgate/config/read_file.hpp"
#include "tlsgate/config/validate.hpp"
#include "tlsgate/tls/ssl_options.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <openssl/ssl.h>
#include <set>
#include <tuple>
#include <unistd.h>

namespace tlsgate::config {

namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

// ---------------------------------------------------------------------------------------------
// Text helpers

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

std::string upper(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    return out;
}

std::string_view trim(std::string_view s) {
    const char* ws = " \t\r\n\f\v";
    size_t b = s.find_first_not_of(ws);
    if (b == std::string_view::npos) {
        return {};
    }
    size_t e = s.find_last_not_of(ws);
    return s.substr(b, e - b + 1);
}

std::optional<int64_t> parse_int(std::string_view text) {
    int64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size()) {
        return std::nullopt;
    }
    return v;
}

bool valid_service_name(std::string_view name) {
    return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == '-';
    });
}

// ---------------------------------------------------------------------------------------------
// Option names (stunnel 5.68), by what tlsgate does with them

enum class Kind {
    global,      // global section only
    service,     // a service option; in the global section a default for every service
    both,        // "debug": global log level, or a service's own
    ignored,     // meaningless here: accepted with a warning
    unsupported, // a stunnel feature tlsgate does not implement: an error
};

struct OptionSpec {
    std::string_view name; // stunnel's spelling, used in messages
    Kind kind;
};

constexpr OptionSpec option_specs[] = {
    // Global options
    {"chroot", Kind::global},
    {"compression", Kind::global},
    {"fips", Kind::global},
    {"foreground", Kind::global},
    {"log", Kind::global},
    {"output", Kind::global},
    {"pid", Kind::global},
    {"service", Kind::global},
    {"setgid", Kind::global},
    {"setuid", Kind::global},
    {"syslog", Kind::global},
    {"debug", Kind::both},
    // Meaningless here (Windows GUI, entropy sources, engines, thread stacks)
    {"taskbar", Kind::ignored},
    {"iconActive", Kind::ignored},
    {"iconError", Kind::ignored},
    {"iconIdle", Kind::ignored},
    {"EGD", Kind::ignored},
    {"RNDbytes", Kind::ignored},
    {"RNDfile", Kind::ignored},
    {"RNDoverwrite", Kind::ignored},
    {"engine", Kind::ignored},
    {"engineCtrl", Kind::ignored},
    {"engineDefault", Kind::ignored},
    {"engineId", Kind::ignored},
    {"engineNum", Kind::ignored},
    {"stack", Kind::ignored},
    // Service options
    {"accept", Kind::service},
    {"CAfile", Kind::service},
    {"CApath", Kind::service},
    {"cert", Kind::service},
    {"checkEmail", Kind::service},
    {"checkHost", Kind::service},
    {"checkIP", Kind::service},
    {"ciphers", Kind::service},
    {"ciphersuites", Kind::service},
    {"client", Kind::service},
    {"connect", Kind::service},
    {"CRLfile", Kind::service},
    {"CRLpath", Kind::service},
    {"curves", Kind::service},
    {"delay", Kind::service},
    {"exec", Kind::service},
    {"execArgs", Kind::service},
    {"failover", Kind::service},
    {"key", Kind::service},
    {"local", Kind::service},
    {"options", Kind::service},
    {"protocol", Kind::service},
    {"renegotiation", Kind::service},
    {"requireCert", Kind::service},
    {"reset", Kind::service},
    {"retry", Kind::service},
    {"securityLevel", Kind::service},
    {"sessionCacheSize", Kind::service},
    {"sessionCacheTimeout", Kind::service},
    {"sessionResume", Kind::service},
    {"sni", Kind::service},
    {"socket", Kind::service},
    {"sslVersion", Kind::service},
    {"sslVersionMax", Kind::service},
    {"sslVersionMin", Kind::service},
    {"ticketKeySecret", Kind::service},
    {"ticketMacSecret", Kind::service},
    {"TIMEOUTbusy", Kind::service},
    {"TIMEOUTclose", Kind::service},
    {"TIMEOUTconnect", Kind::service},
    {"TIMEOUTidle", Kind::service},
    {"verify", Kind::service},
    {"verifyChain", Kind::service},
    {"verifyPeer", Kind::service},
    // stunnel features tlsgate does not have
    {"CAengine", Kind::unsupported},
    {"config", Kind::unsupported},
    {"curve", Kind::unsupported},
    {"ident", Kind::unsupported},
    {"libwrap", Kind::unsupported},
    {"logId", Kind::unsupported},
    {"OCSP", Kind::unsupported},
    {"OCSPaia", Kind::unsupported},
    {"OCSPflag", Kind::unsupported},
    {"OCSPnonce", Kind::unsupported},
    {"OCSPrequire", Kind::unsupported},
    {"protocolAuthentication", Kind::unsupported},
    {"protocolDomain", Kind::unsupported},
    {"protocolHeader", Kind::unsupported},
    {"protocolHost", Kind::unsupported},
    {"protocolPassword", Kind::unsupported},
    {"protocolUsername", Kind::unsupported},
    {"PSKidentity", Kind::unsupported},
    {"PSKsecrets", Kind::unsupported},
    {"pty", Kind::unsupported},
    {"redirect", Kind::unsupported},
    {"sessiond", Kind::unsupported},
    {"transparent", Kind::unsupported},
};

const OptionSpec* find_spec(std::string_view lowered) {
    for (const auto& s : option_specs) {
        if (lower(s.name) == lowered) {
            return &s;
        }
    }
    return nullptr;
}

// Unsupported features switched off are simply what tlsgate does: no error for those.
bool is_harmless_default(std::string_view name, std::string_view lowered_value) {
    if (name == "libwrap" || name == "pty" || name == "OCSPaia" || name == "OCSPnonce") {
        return lowered_value == "no";
    }
    if (name == "transparent") {
        return lowered_value == "none" || lowered_value == "no";
    }
    if (name == "logId") {
        return lowered_value == "sequential";
    }
    return false;
}

struct LevelName {
    std::string_view name;
    int value;
};
constexpr LevelName syslog_levels[] = {{"emerg", 0}, {"alert", 1},   {"crit", 2}, {"err", 3},
                                       {"error", 3}, {"warning", 4}, {"warn", 4}, {"notice", 5},
                                       {"info", 6},  {"debug", 7}};

LogLevel to_log_level(int syslog_level) {
    switch (syslog_level) {
    case 7:
        return LogLevel::debug;
    case 6:
        return LogLevel::info;
    case 5:
        return LogLevel::notice;
    case 4:
        return LogLevel::warning;
    default:
        return LogLevel::error;
    }
}

struct VersionName {
    std::string_view name; // lower case
    TlsVersion value;
};
constexpr VersionName stunnel_versions[] = {{"tlsv1", TLS1_VERSION},
                                            {"tlsv1.0", TLS1_VERSION},
                                            {"tlsv1.1", TLS1_1_VERSION},
                                            {"tlsv1.2", TLS1_2_VERSION},
                                            {"tlsv1.3", TLS1_3_VERSION}};

// ---------------------------------------------------------------------------------------------
// The file as lines

struct Option {
    std::string name; // stunnel's spelling ("checkHost"), or as written when unknown
    const OptionSpec* spec = nullptr;
    std::string value;
    Location where;
};

struct Section {
    std::string name; // empty for the global section
    Location where;
    std::vector<Option> options;
};

// Per service while its options are applied.
struct ServiceState {
    Service svc;
    std::string prefix; // "service[NAME]"
    bool have_accept = false;
    bool have_connect = false;
    bool connect_from_section = false;
    std::optional<Option> sni;
    bool verify_explicit = false;
    bool busy_explicit = false;
    // Options stunnel allows once per section in tlsgate's model (checkHost, ...): where the
    // first one in the current scope (global or section) was.
    std::map<std::string, Location> single_seen;
    // Options whose value was wrong: checks that depend on them are skipped, so one mistake
    // gives one error ("accept = 99999" is not also "missing accept").
    std::set<std::string> failed;
};

class StunnelLoader {
public:
    explicit StunnelLoader(const std::string& file_name) : file_(file_name) {
        std::error_code ec;
        fs::path p = file_name.empty() ? fs::path(".") : fs::path(file_name);
        fs::path abs = fs::absolute(p, ec);
        base_dir_ = (ec ? p : abs).parent_path();
    }

    StunnelLoad run(std::string_view text);

private:
    // Lexing
    void lex(std::string_view text, const std::string& file, int depth);
    void include(const Option& o, int depth);

    // Mapping
    void apply_global(const Option& o, Global& g, bool& compression);
    void apply_service(const Option& o, ServiceState& st, bool from_global);
    void apply_service_option(const Option& o, ServiceState& st, bool from_global);
    void finish_service(ServiceState& st);

    void error(const Location& at, std::string key, std::string message) {
        add(errors_, at, std::move(key), std::move(message));
    }
    void warning(const Location& at, std::string key, std::string message) {
        add(warnings_, at, std::move(key), std::move(message));
    }
    void add(std::vector<ConfigError>& list, const Location& at, std::string key,
             std::string message) {
        ConfigError e{at, std::move(key), std::move(message)};
        if (seen_.insert(e.to_string()).second) {
            list.push_back(std::move(e));
        }
    }
    void note(std::string text) {
        if (std::find(notes_.begin(), notes_.end(), text) == notes_.end()) {
            notes_.push_back(std::move(text));
        }
    }

    std::optional<bool> yes_no(const Option& o, const std::string& key) {
        std::string v = lower(o.value);
        if (v == "yes") {
            return true;
        }
        if (v == "no") {
            return false;
        }
        error(o.where, key, fmt::format("expected yes or no, got \"{}\"", o.value));
        return std::nullopt;
    }
    std::optional<int64_t> number(const Option& o, const std::string& key, int64_t min,
                                  int64_t max) {
        auto v = parse_int(o.value);
        if (!v) {
            error(o.where, key, fmt::format("expected a number, got \"{}\"", o.value));
            return std::nullopt;
        }
        if (*v < min || *v > max) {
            error(o.where, key, fmt::format("{} is out of range {}..{}", *v, min, max));
            return std::nullopt;
        }
        return v;
    }
    std::optional<std::string> nonempty(const Option& o, const std::string& key) {
        if (o.value.empty()) {
            error(o.where, key, "must not be empty");
            return std::nullopt;
        }
        return o.value;
    }
    std::optional<std::string> path(const Option& o, const std::string& key) {
        if (o.value.empty()) {
            error(o.where, key, "path must not be empty");
            return std::nullopt;
        }
        fs::path p(o.value);
        if (p.is_relative()) {
            relative_paths_ = true;
            p = (base_dir_ / p).lexically_normal();
        }
        return p.string();
    }
    std::optional<net::Address> address(const Option& o, const std::string& key,
                                        std::string_view default_host);
    std::optional<int> level(const Option& o, const std::string& key);
    std::optional<TlsVersion> version(const Option& o, const std::string& key, bool is_max);
    std::optional<std::string> hex_secret(const Option& o, const std::string& key);
    void single(ServiceState& st, const Option& o, const std::string& key) {
        auto [it, inserted] = st.single_seen.emplace(o.name, o.where);
        if (!inserted) {
            error(o.where, key,
                  fmt::format("tlsgate takes one {} per service (the first is at line {})", o.name,
                              it->second.line));
        }
    }

    std::string file_;
    fs::path base_dir_;
    std::vector<Section> sections_;
    std::vector<ConfigError> errors_;
    std::vector<ConfigError> warnings_;
    std::set<std::string> seen_;
    std::vector<std::string> notes_;
    bool relative_paths_ = false;
    bool include_failed_ = false;
};

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

std::optional<net::Address> StunnelLoader::address(const Option& o, const std::string& key,
                                                   std::string_view default_host) {
    std::string_view v = o.value;
    std::string text;
    if (v.starts_with("/")) { // stunnel: a unix socket path
        text = fmt::format("unix:{}", v);
    } else if (v.starts_with("unix:")) {
        text = std::string(v);
    } else {
        // stunnel splits at the last colon: "993", "127.0.0.1:993", ":::993" (all of IPv6).
        size_t colon = v.rfind(':');
        std::string_view host = colon == std::string_view::npos ? "" : v.substr(0, colon);
        std::string_view port = colon == std::string_view::npos ? v : v.substr(colon + 1);
        if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
            host = host.substr(1, host.size() - 2);
        }
        if (host.empty()) {
            host = default_host;
        }
        text = host.find(':') != std::string_view::npos ? fmt::format("[{}]:{}", host, port)
                                                        : fmt::format("{}:{}", host, port);
    }
    auto r = net::parse_address(text, true);
    if (auto* e = std::get_if<net::AddressError>(&r)) {
        error(o.where, key, e->message);
        return std::nullopt;
    }
    return std::get<net::Address>(r);
}

// "[FACILITY.]LEVEL", LEVEL a syslog name or 0..7.
std::optional<int> StunnelLoader::level(const Option& o, const std::string& key) {
    std::string v = lower(o.value);
    size_t dot = v.find('.');
    if (dot != std::string::npos) {
        std::string facility = v.substr(0, dot);
        if (facility != "daemon") {
            note(fmt::format("{}: syslog facility \"{}\" is not used: tlsgate logs to the daemon "
                             "facility",
                             key, facility));
        }
        v = v.substr(dot + 1);
    }
    if (auto n = parse_int(v)) {
        if (*n >= 0 && *n <= 7) {
            return static_cast<int>(*n);
        }
    }
    for (const auto& l : syslog_levels) {
        if (l.name == v) {
            return l.value;
        }
    }
    error(o.where, key,
          fmt::format("invalid level \"{}\": expected 0..7 or emerg, alert, crit, err, warning, "
                      "notice, info, debug",
                      o.value));
    return std::nullopt;
}

std::optional<TlsVersion> StunnelLoader::version(const Option& o, const std::string& key,
                                                 bool is_max) {
    std::string v = lower(o.value);
    if (v == "all") {
        // "all": up to the newest (0 = OpenSSL's maximum) or down to the oldest OpenSSL here.
        return is_max ? 0 : TLS1_VERSION;
    }
    if (v == "sslv2" || v == "sslv3") {
        error(o.where, key,
              fmt::format("{} is not supported (broken; OpenSSL 3 has no {})", o.value, o.value));
        return std::nullopt;
    }
    for (const auto& n : stunnel_versions) {
        if (n.name == v) {
            return n.value;
        }
    }
    error(o.where, key,
          fmt::format("invalid version \"{}\": expected all, TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3",
                      o.value));
    return std::nullopt;
}

// 16 or 32 bytes as hex, colons allowed between bytes (stunnel's format); stored without them.
std::optional<std::string> StunnelLoader::hex_secret(const Option& o, const std::string& key) {
    std::string hex;
    for (char c : o.value) {
        if (c != ':') {
            hex.push_back(c);
        }
    }
    bool ok = (hex.size() == 32 || hex.size() == 64) &&
              std::all_of(hex.begin(), hex.end(), [](char c) { return std::isxdigit(uint8_t(c)); });
    if (!ok) {
        error(o.where, key, "expected 16 or 32 bytes as hexadecimal digits");
        return std::nullopt;
    }
    return hex;
}

void StunnelLoader::apply_global(const Option& o, Global& g, bool& compression) {
    const std::string key = "global." + o.name;
    const std::string& n = o.name;
    auto mark = [&](const char* model_key) { g.where[model_key] = o.where; };
    if (n == "chroot") {
        if (auto p = path(o, key)) {
            g.chroot = *p;
            mark("chroot");
        }
    } else if (n == "compression") {
        std::string v = lower(o.value);
        if (v == "zlib" || v == "deflate") {
            compression = true;
            warning(o.where, key,
                    "compression turns on TLS compression for every service, which leaks "
                    "secrets through compressed lengths (CRIME); remove it unless you must");
        } else {
            error(o.where, key, fmt::format("expected zlib or deflate, got \"{}\"", o.value));
        }
    } else if (n == "fips") {
        if (auto b = yes_no(o, key)) {
            g.fips = *b;
            mark("fips");
        }
    } else if (n == "log") {
        std::string v = lower(o.value);
        if (v == "append" || v == "overwrite") {
            g.log_append = v == "append";
            mark("log_append");
        } else {
            error(o.where, key, fmt::format("expected append or overwrite, got \"{}\"", o.value));
        }
    } else if (n == "output") {
        if (auto p = path(o, key)) {
            g.log_file = *p;
            mark("log_file");
        }
    } else if (n == "pid") {
        // An empty value means no pid file, as in stunnel.
        if (o.value.empty()) {
            g.pid_file.reset();
        } else if (auto p = path(o, key)) {
            g.pid_file = *p;
        }
        mark("pid_file");
    } else if (n == "service") {
        if (auto s = nonempty(o, key)) {
            g.syslog_ident = *s;
            mark("syslog_ident");
        }
    } else if (n == "setuid" || n == "setgid") {
        if (auto s = nonempty(o, key)) {
            (n == "setuid" ? g.user : g.group) = *s;
            mark(n == "setuid" ? "user" : "group");
        }
    } else if (n == "debug") {
        if (auto l = level(o, key)) {
            g.log_level = to_log_level(*l);
            mark("log_level");
        }
    }
    // foreground and syslog are read together in run().
}

void StunnelLoader::apply_service(const Option& o, ServiceState& st, bool from_global) {
    const size_t errors_before = errors_.size();
    apply_service_option(o, st, from_global);
    if (errors_.size() != errors_before) {
        st.failed.insert(o.name);
    }
}

void StunnelLoader::apply_service_option(const Option& o, ServiceState& st, bool from_global) {
    const std::string key = (from_global ? std::string("global") : st.prefix) + "." + o.name;
    const std::string& n = o.name;
    Service& svc = st.svc;
    TlsSettings& tls = svc.tls;
    auto mark = [&](const char* model_key) { svc.where[model_key] = o.where; };
    auto mark_tls = [&](const char* model_key) { tls.where[model_key] = o.where; };

    if (n == "accept") {
        single(st, o, key);
        if (auto a = address(o, key, "0.0.0.0")) {
            svc.listen = *a;
            st.have_accept = true;
            mark("listen");
        }
    } else if (n == "connect") {
        // Repeatable. The section's own connect lines replace those inherited from the global
        // section.
        if (!from_global && !st.connect_from_section) {
            svc.backends.clear();
            svc.where.erase("backend");
            st.connect_from_section = true;
        }
        if (auto a = address(o, key, "localhost")) {
            svc.backends.push_back(*a);
            if (!svc.where.count("backend")) {
                mark("backend");
            }
        }
        st.have_connect = true;
    } else if (n == "failover") {
        std::string v = lower(o.value);
        if (v == "rr" || v == "prio") {
            svc.failover = v == "rr" ? Failover::rr : Failover::prio;
            mark("failover");
        } else {
            error(o.where, key, fmt::format("expected rr or prio, got \"{}\"", o.value));
        }
    } else if (n == "client") {
        if (auto b = yes_no(o, key)) {
            svc.client = *b;
            mark("client");
        }
    } else if (n == "protocol") {
        std::string v = lower(o.value);
        if (v == "imap" || v == "pop3" || v == "smtp") {
            svc.protocol = v == "imap"   ? Protocol::imap
                           : v == "pop3" ? Protocol::pop3
                                         : Protocol::smtp;
            svc.tls_mode = TlsMode::starttls;
            svc.proxy_header = false;
            mark("protocol");
            mark("tls");
        } else if (v == "proxy") {
            svc.proxy_header = true;
            mark("proxy_header");
        } else {
            error(o.where, key,
                  fmt::format("protocol \"{}\" is not supported by tlsgate (supported: imap, pop3, "
                              "smtp, proxy)",
                              o.value));
        }
    } else if (n == "cert" || n == "key") {
        if (auto p = path(o, key)) {
            (n == "cert" ? tls.cert : tls.key) = std::vector<std::string>{*p};
            mark_tls(n == "cert" ? "cert" : "key");
        }
    } else if (n == "CAfile" || n == "CApath" || n == "CRLfile" || n == "CRLpath") {
        if (auto p = path(o, key)) {
            (n == "CAfile"    ? tls.ca_file
             : n == "CApath"  ? tls.ca_path
             : n == "CRLfile" ? tls.crl_file
                              : tls.crl_path) = *p;
            mark_tls(n == "CAfile"    ? "ca_file"
                     : n == "CApath"  ? "ca_path"
                     : n == "CRLfile" ? "crl_file"
                                      : "crl_path");
        }
    } else if (n == "verify") {
        // As stunnel's verify levels: every level requests a certificate; 1 checks the chain
        // when there is one, 2 requires it, 3 also needs the peer certificate itself in
        // CAfile/CApath, 4 checks only that (not the chain).
        if (auto l = number(o, key, 0, 4)) {
            tls.request_cert = true;
            tls.require_cert = *l >= 2;
            tls.verify_chain = *l >= 1 && *l <= 3;
            tls.verify_peer = *l >= 3;
            st.verify_explicit = true;
            for (const char* k : {"request_cert", "require_cert", "verify_chain", "verify_peer"}) {
                mark_tls(k);
            }
        }
    } else if (n == "verifyChain" || n == "verifyPeer") {
        // Either implies requireCert = yes, as stunnel.
        if (auto b = yes_no(o, key)) {
            (n == "verifyChain" ? tls.verify_chain : tls.verify_peer) = *b;
            mark_tls(n == "verifyChain" ? "verify_chain" : "verify_peer");
            if (*b) {
                tls.request_cert = tls.require_cert = true;
                mark_tls("request_cert");
                mark_tls("require_cert");
            }
            st.verify_explicit = true;
        }
    } else if (n == "requireCert") {
        if (auto b = yes_no(o, key)) {
            tls.require_cert = *b;
            if (*b) {
                tls.request_cert = true;
                mark_tls("request_cert");
            }
            mark_tls("require_cert");
            st.verify_explicit = true;
        }
    } else if (n == "checkHost" || n == "checkIP" || n == "checkEmail") {
        single(st, o, key);
        if (auto s = nonempty(o, key)) {
            (n == "checkHost" ? tls.check_host
             : n == "checkIP" ? tls.check_ip
                              : tls.check_email) = *s;
            mark_tls(n == "checkHost" ? "check_host" : n == "checkIP" ? "check_ip" : "check_email");
        }
    } else if (n == "sni") {
        // Its meaning depends on client mode, which may come later: read in finish_service.
        single(st, o, key);
        st.sni = o;
    } else if (n == "ciphers" || n == "curves") {
        if (auto s = nonempty(o, key)) {
            (n == "ciphers" ? tls.ciphers : tls.groups) = *s;
            mark_tls(n == "ciphers" ? "ciphers" : "groups");
        }
    } else if (n == "ciphersuites") {
        tls.ciphersuites = o.value; // empty: no TLS 1.3 suite
        mark_tls("ciphersuites");
    } else if (n == "options") {
        // Repeatable and cumulative; "-NAME" clears, as stunnel.
        bool clear = o.value.starts_with("-");
        std::string name = upper(trim(std::string_view(o.value).substr(clear ? 1 : 0)));
        if (!tls::find_ssl_option(name)) {
            error(o.where, key,
                  fmt::format("unknown option \"{}\" (tlsgate -options lists the names)", name));
            return;
        }
        auto drop = [&](std::vector<std::string>& list) {
            list.erase(std::remove(list.begin(), list.end(), name), list.end());
        };
        drop(tls.options_set);
        drop(tls.options_clear);
        (clear ? tls.options_clear : tls.options_set).push_back(name);
        mark_tls("options");
    } else if (n == "securityLevel") {
        if (auto l = number(o, key, 0, 5)) {
            tls.security_level = static_cast<int>(*l);
            mark_tls("security_level");
        }
    } else if (n == "sslVersion") {
        auto lo = version(o, key, false);
        auto hi = version(o, key, true);
        if (lo && hi) {
            tls.min_version = *lo;
            tls.max_version = *hi;
            mark_tls("min_version");
            mark_tls("max_version");
        }
    } else if (n == "sslVersionMin" || n == "sslVersionMax") {
        bool is_max = n == "sslVersionMax";
        if (auto v = version(o, key, is_max)) {
            (is_max ? tls.max_version : tls.min_version) = *v;
            mark_tls(is_max ? "max_version" : "min_version");
        }
    } else if (n == "renegotiation" || n == "sessionResume") {
        if (auto b = yes_no(o, key)) {
            (n == "renegotiation" ? tls.renegotiation : tls.session_resume) = *b;
            mark_tls(n == "renegotiation" ? "renegotiation" : "session_resume");
            if (*b && n == "renegotiation") {
                warning(o.where, key,
                        "renegotiation = yes lets clients renegotiate, a denial-of-service "
                        "lever that bettercrypto recommends turning off");
            }
        }
    } else if (n == "sessionCacheSize") {
        if (auto v = number(o, key, 0, 1 << 30)) {
            tls.session_cache_size = static_cast<size_t>(*v);
            mark_tls("session_cache_size");
        }
    } else if (n == "sessionCacheTimeout") {
        if (auto v = number(o, key, 1, 365LL * 24 * 3600)) {
            tls.session_cache_timeout = seconds(*v);
            mark_tls("session_cache_timeout");
        }
    } else if (n == "ticketKeySecret" || n == "ticketMacSecret") {
        if (auto h = hex_secret(o, key)) {
            (n == "ticketKeySecret" ? tls.ticket_key_secret : tls.ticket_mac_secret) = *h;
            mark_tls(n == "ticketKeySecret" ? "ticket_key_secret" : "ticket_mac_secret");
        }
    } else if (n == "socket") {
        std::string_view v = o.value;
        size_t eq = v.find('=');
        if (v.size() < 3 || v[1] != ':' || (v[0] != 'a' && v[0] != 'l' && v[0] != 'r') ||
            eq == std::string_view::npos) {
            error(o.where, key,
                  fmt::format("invalid socket option \"{}\": expected a|l|r:OPTION=VALUE", v));
            return;
        }
        SocketOption so;
        so.side = v[0];
        so.name = std::string(v.substr(2, eq - 2));
        so.value = std::string(v.substr(eq + 1));
        so.where = o.where;
        // The name and value are checked by validate_config, for both formats.
        svc.socket_options.push_back(std::move(so));
        mark("socket_options");
    } else if (n == "TIMEOUTbusy" || n == "TIMEOUTconnect" || n == "TIMEOUTidle" ||
               n == "TIMEOUTclose") {
        // TIMEOUTclose = 0 is meaningful (do not wait for close_notify); the others must be
        // positive in tlsgate.
        int64_t min = n == "TIMEOUTclose" ? 0 : 1;
        if (auto v = number(o, key, min, 365LL * 24 * 3600)) {
            Duration d = seconds(*v);
            if (n == "TIMEOUTbusy") {
                svc.handshake_timeout = d;
                st.busy_explicit = true;
                mark("handshake_timeout");
            } else if (n == "TIMEOUTconnect") {
                svc.connect_timeout = d;
                mark("connect_timeout");
            } else if (n == "TIMEOUTidle") {
                svc.idle_timeout = d;
                mark("idle_timeout");
            } else {
                svc.close_timeout = d;
                mark("close_timeout");
            }
        }
    } else if (n == "delay" || n == "retry" || n == "reset") {
        if (auto b = yes_no(o, key)) {
            if (n == "delay") {
                svc.resolve_at_start = !*b;
                mark("resolve_at_start");
            } else {
                (n == "retry" ? svc.retry : svc.reset) = *b;
                mark(n == "retry" ? "retry" : "reset");
            }
        }
    } else if (n == "local") {
        if (auto s = nonempty(o, key)) {
            svc.local = *s;
            mark("local");
        }
    } else if (n == "debug") {
        if (auto l = level(o, key)) {
            svc.log_level = to_log_level(*l);
            mark("log_level");
        }
    } else if (n == "exec") {
        if (auto p = path(o, key)) {
            svc.exec = *p;
            mark("exec");
        }
    } else if (n == "execArgs") {
        // Whitespace separated, no quoting (as stunnel); argv[0] first.
        svc.exec_args.clear();
        std::string_view rest = o.value;
        while (!(rest = trim(rest)).empty()) {
            size_t end = rest.find_first_of(" \t");
            svc.exec_args.emplace_back(rest.substr(0, end));
            rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
        }
        if (svc.exec_args.empty()) {
            error(o.where, key, "must not be empty");
        } else {
            mark("exec_args");
        }
    }
}

void StunnelLoader::finish_service(ServiceState& st) {
    Service& svc = st.svc;
    TlsSettings& tls = svc.tls;
    const std::string& prefix = st.prefix;

    // key defaults to cert (one PEM file holding both), as stunnel.
    if (!tls.cert.empty() && tls.key.empty()) {
        tls.key = tls.cert;
        tls.where["key"] = tls.locate("cert");
    }
    if (st.sni) {
        const Option& o = *st.sni;
        const std::string key = prefix + ".sni";
        if (svc.client) {
            if (o.value.empty()) {
                error(o.where, key,
                      "an empty sni (no SNI extension) is not supported by tlsgate; remove the "
                      "line to send the backend's host name");
            } else {
                tls.sni = o.value;
                tls.where["sni"] = o.where;
            }
        } else {
            size_t colon = o.value.find(':');
            if (colon == std::string::npos || colon == 0 || colon + 1 == o.value.size()) {
                error(o.where, key,
                      fmt::format("expected SERVICE:SERVER_NAME_PATTERN in server mode, got "
                                  "\"{}\"",
                                  o.value));
            } else {
                svc.sni_parent = o.value.substr(0, colon);
                svc.sni_pattern = o.value.substr(colon + 1);
                svc.where["sni_parent"] = o.where;
                svc.where["sni_pattern"] = o.where;
            }
        }
    }

    // After a failed include, what is missing may well be in the files not read.
    const bool complete = !include_failed_;
    if (svc.inetd && st.have_accept) {
        error(svc.locate("listen"), prefix + ".accept",
              "inetd mode (no [section]) takes its connection on stdin/stdout; remove accept");
    } else if (svc.sni_parent && st.have_accept) {
        error(svc.locate("listen"), prefix + ".accept",
              "an SNI service is reached through its parent's accept; remove accept");
    } else if (!svc.inetd && !svc.sni_parent && !st.have_accept && !st.failed.count("accept") &&
               !st.failed.count("sni") && complete) {
        error(svc.section, prefix + ".accept", "missing accept");
    }
    if (svc.exec && st.have_connect) {
        error(svc.locate("exec"), prefix + ".exec",
              "exec with connect (a program as the local end, stunnel's local mode) is not "
              "supported by tlsgate; set either connect or exec, not both");
    } else if (!svc.exec && !st.have_connect && !st.failed.count("exec") && complete) {
        error(svc.section, prefix + ".connect", "missing connect (or exec)");
    }
    if (svc.exec && svc.exec_args.empty()) {
        svc.exec_args.push_back(fs::path(*svc.exec).filename().string());
    }
    if (!svc.client && tls.cert.empty() && !st.failed.count("client") && !st.failed.count("cert") &&
        complete) {
        error(svc.section, prefix + ".cert", "no certificate: server mode needs cert");
    }
    if (tls.min_version != 0 && tls.max_version != 0 && tls.min_version > tls.max_version) {
        error(tls.locate("min_version"), prefix + ".sslVersionMin",
              "sslVersionMin is greater than sslVersionMax");
    }
    if (tls.ticket_key_secret.has_value() != tls.ticket_mac_secret.has_value()) {
        const char* missing = tls.ticket_key_secret ? "ticketMacSecret" : "ticketKeySecret";
        error(
            tls.locate(tls.ticket_key_secret ? "ticket_key_secret" : "ticket_mac_secret"),
            fmt::format("{}.{}", prefix, missing),
            fmt::format("ticketKeySecret and ticketMacSecret go together; {} is missing", missing));
    }

    // Client mode: stunnel checks nothing unless told; tlsgate verifies the server's chain and
    // name by default (the whole point of originating TLS). Only an explicit verify,
    // verifyChain, verifyPeer or requireCert restores stunnel's behaviour.
    if (svc.client && !st.verify_explicit) {
        tls.verify_chain = true;
        tls.require_cert = true;
        note(fmt::format("{}: client mode verifies the server's certificate chain (system trust "
                         "store unless CAfile/CApath) and host name (checkHost, default the "
                         "connect host); stunnel checks nothing by default: set verifyChain = no "
                         "to get that",
                         prefix));
    }
    // The model's summary switch, as the TOML loader makes it.
    tls.verify = tls.verify_chain || tls.verify_peer ? VerifyMode::peer : VerifyMode::none;
    if (svc.client && tls.verify == VerifyMode::none) {
        warning(svc.section, prefix + ".verifyChain",
                "the server's certificate is not checked (stunnel's default); anyone on the path "
                "can read and change the traffic: add verifyChain = yes, CAfile or CApath, and "
                "checkHost");
    }
    // stunnel's STARTTLS server refuses a client that does not ask for TLS; so does tlsgate.
    svc.starttls_policy = StarttlsPolicy::encrypt;

    if (svc.protocol != Protocol::raw && !svc.client) {
        note(fmt::format("{}: protocol = {}: tlsgate answers STARTTLS itself, rewrites the "
                         "capabilities and refuses logins before TLS (stricter than stunnel)",
                         prefix, to_string(svc.protocol)));
    }
    if (!svc.where.count("resolve_at_start") && !svc.exec &&
        std::any_of(svc.backends.begin(), svc.backends.end(), [](const net::Address& a) {
            // localhost comes from /etc/hosts, not DNS: when it is resolved does not matter.
            return a.kind == net::Address::Kind::tcp && !a.host_is_ip && a.host != "localhost";
        })) {
        note(fmt::format("{}: delay is not set: tlsgate resolves connect host names for every "
                         "connection (stunnel resolves them at start); delay = no restores that",
                         prefix));
    }
}

StunnelLoad StunnelLoader::run(std::string_view text) {
    sections_.push_back(Section{"", Location{file_, 0}, {}});
    lex(text, file_, 0);

    Config cfg;
    cfg.source_file = file_;
    cfg.format = ConfigFormat::stunnel;
    Global& g = cfg.global;
    g.log_level = LogLevel::notice; // stunnel's default level
    g.daemon = true;                // stunnel's default: foreground = no
    bool compression = false;
    std::optional<Option> foreground, syslog;

    // Global options; service options there are defaults for every section, applied below.
    const Section& global = sections_.front();
    for (const Option& o : global.options) {
        const std::string key = "global." + o.name;
        if (!o.spec) {
            error(o.where, key, fmt::format("unknown option \"{}\"", o.name));
        } else if (o.spec->kind == Kind::ignored) {
            warning(o.where, key, fmt::format("{} has no meaning for tlsgate; ignored", o.name));
        } else if (o.spec->kind == Kind::unsupported) {
            if (is_harmless_default(o.name, lower(o.value))) {
                warning(
                    o.where, key,
                    fmt::format("{} = {} is what tlsgate does anyway; ignored", o.name, o.value));
            } else {
                error(o.where, key, fmt::format("{} is not supported by tlsgate", o.name));
            }
        } else if (o.name == "foreground") {
            foreground = o;
        } else if (o.name == "syslog") {
            syslog = o;
        } else if (o.spec->kind == Kind::global || o.spec->kind == Kind::both) {
            apply_global(o, g, compression);
        }
    }

    // foreground and syslog together decide daemonising and the log target.
    bool use_syslog = true;
    if (syslog) {
        if (auto b = yes_no(*syslog, "global.syslog")) {
            use_syslog = *b;
        }
    }
    std::string fg = foreground ? lower(foreground->value) : "no";
    if (!foreground) {
        note("foreground is not set: tlsgate daemonises, as stunnel does (under systemd "
             "Type=simple set foreground = yes)");
    } else if (fg != "yes" && fg != "no" && fg != "quiet") {
        error(foreground->where, "global.foreground",
              fmt::format("expected yes, quiet or no, got \"{}\"", foreground->value));
    } else {
        g.where["daemon"] = foreground->where;
    }
    g.daemon = fg == "no";
    if (fg == "yes") {
        g.log_target = LogTarget::stderr_stream;
        g.where["log"] = foreground->where;
        if (use_syslog && !g.log_file) {
            note("foreground = yes: tlsgate logs to stderr only (stunnel logs to syslog as "
                 "well)");
        }
    } else {
        g.log_target = use_syslog ? LogTarget::syslog : LogTarget::stderr_stream;
        if (syslog) {
            g.where["log"] = syslog->where;
        }
    }

    if (g.log_file && fg == "yes") {
        note(fmt::format("foreground = yes with output = {}: tlsgate logs to that file instead "
                         "of stderr (stunnel writes both)",
                         *g.log_file));
    }

    // Services: the global defaults first, then the section's own lines, as stunnel.
    const bool inetd = sections_.size() == 1;
    std::vector<const Section*> service_sections;
    Section inetd_section{"inetd", Location{file_, 0}, {}};
    if (inetd) {
        service_sections.push_back(&inetd_section);
        note("no [section]: inetd mode, one connection on stdin/stdout (service \"inetd\")");
    } else {
        for (size_t i = 1; i < sections_.size(); ++i) {
            service_sections.push_back(&sections_[i]);
        }
    }
    bool any_default_ciphers = false, any_default_renegotiation = false,
         any_default_min_version = false, any_default_busy = false;
    for (const Section* section : service_sections) {
        ServiceState st;
        st.prefix = fmt::format("service[{}]", section->name);
        st.svc.name = section->name;
        st.svc.section = section->where;
        st.svc.tls.section = section->where;
        st.svc.where["name"] = section->where;
        st.svc.inetd = inetd;
        if (inetd) {
            st.svc.where["inetd"] = section->where;
        }
        // stunnel's defaults where they are not weaker than tlsgate's.
        st.svc.connect_timeout = seconds(10);
        st.svc.idle_timeout = seconds(43200);
        st.svc.close_timeout = seconds(60);
        for (const Option& o : global.options) {
            if (o.spec && o.spec->kind == Kind::service) {
                apply_service(o, st, true);
            }
        }
        st.single_seen.clear();
        for (const Option& o : section->options) {
            const std::string key = st.prefix + "." + o.name;
            if (!o.spec) {
                error(o.where, key, fmt::format("unknown option \"{}\"", o.name));
            } else if (o.spec->kind == Kind::ignored) {
                warning(o.where, key,
                        fmt::format("{} has no meaning for tlsgate; ignored", o.name));
            } else if (o.spec->kind == Kind::unsupported) {
                if (is_harmless_default(o.name, lower(o.value))) {
                    warning(o.where, key,
                            fmt::format("{} = {} is what tlsgate does anyway; ignored", o.name,
                                        o.value));
                } else {
                    error(o.where, key, fmt::format("{} is not supported by tlsgate", o.name));
                }
            } else if (o.name == "service") {
                warning(o.where, key, "service only has an effect in the global section");
            } else if (o.name == "setuid" || o.name == "setgid") {
                error(o.where, key,
                      fmt::format("{} in a service (the owner of a unix socket accept) is not "
                                  "supported by tlsgate; as a global option it drops privileges",
                                  o.name));
            } else if (o.spec->kind == Kind::global) {
                error(o.where, key,
                      fmt::format("{} is a global option in tlsgate; move it before the first "
                                  "[section]",
                                  o.name));
            } else {
                apply_service(o, st, false);
            }
        }
        st.svc.tls.compression = compression;
        finish_service(st);
        any_default_ciphers |= !st.svc.tls.where.count("ciphers");
        any_default_renegotiation |= !st.svc.tls.where.count("renegotiation");
        any_default_min_version |= !st.svc.tls.where.count("min_version");
        any_default_busy |= !st.busy_explicit;
        cfg.services.push_back(std::move(st.svc));
    }

    if (any_default_ciphers) {
        note("ciphers is not set: tlsgate uses bettercrypto's cipher string B (stunnel's default "
             "HIGH:!aNULL:!SSLv2:!DH:!kDHEPSK allows weaker suites)");
    }
    if (any_default_renegotiation) {
        note("renegotiation is not set: tlsgate refuses client-initiated renegotiation (stunnel "
             "allows it by default)");
    }
    if (any_default_min_version) {
        note("sslVersionMin is not set: tlsgate requires TLS 1.2 or newer (stunnel accepts "
             "TLSv1)");
    }
    note(fmt::format("timeouts: TIMEOUTbusy is the TLS handshake (and client-mode STARTTLS) "
                     "limit{}, TIMEOUTconnect the backend connect, TIMEOUTidle the idle limit, "
                     "TIMEOUTclose the wait for close_notify/FIN after ours; tlsgate also limits "
                     "the plaintext phase before STARTTLS (plaintext_timeout 60 s)",
                     any_default_busy ? " (not set: 10 s, stunnel's default is 300 s)" : ""));
    if (relative_paths_) {
        note(fmt::format("relative paths are resolved against {} (the config file's directory), "
                         "not the working directory",
                         base_dir_.string()));
    }

    std::vector<ConfigError> cross;
    validate_config(cfg, cross);
    for (auto& e : cross) {
        error(e.where, std::move(e.key), std::move(e.message));
    }

    // The main file first, then included files, each by line.
    auto by_place = [this](const ConfigError& a, const ConfigError& b) {
        auto rank = [this](const ConfigError& e) {
            return std::make_tuple(e.where.file != file_, std::cref(e.where.file), e.where.line);
        };
        return rank(a) < rank(b);
    };
    std::stable_sort(errors_.begin(), errors_.end(), by_place);
    std::stable_sort(warnings_.begin(), warnings_.end(), by_place);
    StunnelLoad out;
    if (errors_.empty()) {
        out.result.config = std::move(cfg);
    } else {
        out.result.partial = std::move(cfg);
    }
    out.result.errors = std::move(errors_);
    out.result.warnings = std::move(warnings_);
    out.notes = std::move(notes_);
    return out;
}

} // namespace

StunnelLoad load_stunnel_string(std::string_view text, const std::string& file_name) {
    StunnelLoader loader(file_name);
    return loader.run(text);
}

StunnelLoad load_stunnel_file(const std::string& file_name) {
    std::string text;
    if (int err = read_whole_file(file_name, text)) {
        StunnelLoad out;
        out.result.errors.push_back(ConfigError{
            Location{file_name, 0}, "", fmt::format("cannot read file: {}", std::strerror(err))});
        return out;
    }
    return load_stunnel_string(text, file_name);
}

} // namespace tlsgate::config
