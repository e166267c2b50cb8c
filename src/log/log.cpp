#include "tlsgate/log/log.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <filesystem>
#include <iterator>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

namespace tlsgate::log {
namespace {

// The logger's settings are part of the process config snapshot: written before the workers
// start; afterwards only the level changes (reload) and the echo flag (end of start-up), both
// atomics read on every line.
std::atomic<int> g_min_level{static_cast<int>(LogLevel::info)};
std::atomic<bool> g_use_syslog{false};
std::atomic<bool> g_echo_errors{false};
std::atomic<bool> g_journald{false}; // stderr is the journal
std::atomic<config::LogFormat> g_format{config::LogFormat::text};
// The log file's descriptor number never changes once opened: reopen() swaps the file behind
// it with dup3, which is atomic with respect to concurrent write(2) calls, so no lock is needed
// and no write can reach a closed or reused descriptor.
std::atomic<int> g_file_fd{-1};
std::string g_file_path; // written before worker threads exist, then only read
// openlog keeps the pointer: the ident must outlive every syslog call.
std::string g_syslog_ident = "tlsgate";

int open_log_file(const std::string& path, bool append) {
    return ::open(path.c_str(),
                  O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY | (append ? O_APPEND : O_TRUNC), 0640);
}

void write_all(int fd, const std::string& line) {
    size_t done = 0;
    while (done < line.size()) {
        const ssize_t n = ::write(fd, line.data() + done, line.size() - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        done += static_cast<size_t>(n);
    }
}

int syslog_priority(LogLevel level) {
    switch (level) {
    case LogLevel::debug:
        return LOG_DEBUG;
    case LogLevel::info:
        return LOG_INFO;
    case LogLevel::notice:
        return LOG_NOTICE;
    case LogLevel::warning:
        return LOG_WARNING;
    case LogLevel::error:
        return LOG_ERR;
    }
    return LOG_INFO;
}

} // namespace

void configure(LogLevel level, config::LogTarget target) {
    g_min_level = static_cast<int>(level);
    g_journald = stderr_is_journal();
    const bool use_syslog = target == config::LogTarget::syslog;
    if (use_syslog && !g_use_syslog) {
        openlog("tlsgate", LOG_PID | LOG_NDELAY, LOG_MAIL);
    }
    g_use_syslog = use_syslog;
}

Result<> configure(const config::Global& global) {
    g_min_level = static_cast<int>(global.log_level);
    g_journald = stderr_is_journal();
    g_format = global.log_format;
    const bool use_syslog = global.log_target == config::LogTarget::syslog;
    if (use_syslog) {
        if (g_use_syslog) {
            closelog();
        }
        g_syslog_ident = global.syslog_ident;
        openlog(g_syslog_ident.c_str(), LOG_PID | LOG_NDELAY, LOG_MAIL);
    }
    g_use_syslog = use_syslog;
    if (global.log_file && g_file_fd.load() < 0) {
        const int fd = open_log_file(*global.log_file, global.log_append);
        if (fd < 0) {
            return Error{
                fmt::format("cannot open log file {}: {}", *global.log_file, std::strerror(errno))};
        }
        // Absolute, so a reopen after a daemon moved to "/" finds the same file.
        g_file_path = std::filesystem::absolute(*global.log_file).string();
        g_file_fd = fd;
    }
    return {};
}

Result<> reopen() {
    const int fd = g_file_fd.load();
    if (fd < 0) {
        return {};
    }
    // O_APPEND, not the configured truncation: a file that was not rotated keeps its lines.
    const int fresh = open_log_file(g_file_path, true);
    if (fresh < 0) {
        return Error{
            fmt::format("cannot reopen log file {}: {}", g_file_path, std::strerror(errno))};
    }
    const int rc = dup3(fresh, fd, O_CLOEXEC);
    const int saved = errno;
    ::close(fresh);
    if (rc < 0) {
        return Error{
            fmt::format("cannot reopen log file {}: {}", g_file_path, std::strerror(saved))};
    }
    return {};
}

void set_level(LogLevel level) {
    g_min_level = static_cast<int>(level);
}

void echo_errors_to_stderr(bool on) {
    g_echo_errors = on;
}

bool enabled(LogLevel level) {
    return static_cast<int>(level) >= g_min_level.load();
}

std::string escape(std::string_view text, size_t max, Escape mode) {
    static constexpr char kHex[] = "0123456789abcdef";
    const bool cut = text.size() > max;
    if (cut) {
        text = text.substr(0, max);
    }
    std::string out;
    out.reserve(text.size() + 3);
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        const bool printable = byte >= 0x20 && byte < 0x7f;
        if (printable && (mode == Escape::line || (c != '"' && c != '\\'))) {
            out += c;
        } else {
            out += "\\x";
            out += kHex[byte >> 4];
            out += kHex[byte & 0x0f];
        }
    }
    if (cut) {
        out += "...";
    }
    return out;
}

bool stderr_is_journal() {
    const char* stream = std::getenv("JOURNAL_STREAM");
    struct stat st {};
    if (stream == nullptr || ::fstat(STDERR_FILENO, &st) != 0) {
        return false;
    }
    unsigned long long device = 0;
    unsigned long long inode = 0;
    if (std::sscanf(stream, "%llu:%llu", &device, &inode) != 2) {
        return false;
    }
    return device == st.st_dev && inode == st.st_ino;
}

namespace {

// The message is printable ASCII already: only '"' and '\\' need escaping.
void append_json_string(fmt::memory_buffer& out, std::string_view text) {
    out.push_back('"');
    for (const char c : text) {
        if (c == '"' || c == '\\') {
            out.push_back('\\');
        }
        out.push_back(c);
    }
    out.push_back('"');
}

} // namespace

std::string format_line(const LineStyle& style, LogLevel level, const ConnectionFields* fields,
                        std::string_view message, std::chrono::system_clock::time_point now) {
    using Destination = LineStyle::Destination;
    fmt::memory_buffer line;
    auto out = std::back_inserter(line);
    std::string stamp;
    if (style.destination == Destination::stream) {
        const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
        const auto millis =
            std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() %
            1000;
        std::tm utc{};
        gmtime_r(&seconds, &utc);
        char text[32];
        std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
        stamp = fmt::format("{}.{:03d}Z", text, millis);
    }
    if (style.destination == Destination::journald) {
        fmt::format_to(out, "<{}>", syslog_priority(level));
    }
    if (style.format == config::LogFormat::json) {
        line.push_back('{');
        if (!stamp.empty()) {
            fmt::format_to(out, "\"time\":\"{}\",", stamp);
        }
        fmt::format_to(out, "\"level\":\"{}\",", config::to_string(level));
        if (fields != nullptr) {
            fmt::format_to(out, "\"conn\":{},\"service\":", fields->conn);
            append_json_string(line, fields->service);
            if (!fields->client.empty()) {
                fmt::format_to(out, ",\"client\":");
                append_json_string(line, fields->client);
            }
            line.push_back(',');
        }
        fmt::format_to(out, "\"msg\":");
        append_json_string(line, message);
        line.push_back('}');
    } else {
        if (style.destination == Destination::stream) {
            fmt::format_to(out, "{} tlsgate[{}]: ", stamp, getpid());
        }
        if (style.destination != Destination::bare) {
            fmt::format_to(out, "{}: ", config::to_string(level));
        }
        if (fields != nullptr) {
            fmt::format_to(out, "conn={} service={} ", fields->conn, fields->service);
            if (!fields->client.empty()) {
                fmt::format_to(out, "client={} ", fields->client);
            }
        }
        line.append(message);
    }
    if (style.destination != Destination::bare) {
        line.push_back('\n');
    }
    return std::string(line.data(), line.size());
}

namespace {

void write_line(LogLevel level, const ConnectionFields* fields, std::string_view raw_message) {
    using Destination = LineStyle::Destination;
    // Fields are escaped where they are formatted; this catches whatever was not, so that no
    // message ever holds a line break or a terminal control sequence.
    const bool clean = std::all_of(raw_message.begin(), raw_message.end(), [](char c) {
        return static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f;
    });
    const std::string escaped =
        clean ? std::string() : escape(raw_message, raw_message.size(), Escape::line);
    const std::string_view message = clean ? raw_message : std::string_view(escaped);
    const config::LogFormat format = g_format.load();
    const auto now = std::chrono::system_clock::now();
    if (g_use_syslog) {
        const std::string line =
            format_line({format, Destination::bare}, level, fields, message, now);
        syslog(syslog_priority(level), "%s", line.c_str());
    }
    const int file_fd = g_file_fd.load();
    if (g_use_syslog && file_fd < 0) {
        return;
    }
    const LineStyle to_stderr{format, g_journald ? Destination::journald : Destination::stream};
    // One write(2) per line keeps lines from different workers whole.
    if (file_fd < 0) {
        write_all(STDERR_FILENO, format_line(to_stderr, level, fields, message, now));
        return;
    }
    write_all(file_fd, format_line({format, Destination::stream}, level, fields, message, now));
    if (g_echo_errors && level == LogLevel::error) {
        write_all(STDERR_FILENO, format_line(to_stderr, level, fields, message, now));
    }
}

} // namespace

void write(LogLevel level, std::string_view message) {
    write_line(level, nullptr, message);
}

void write(LogLevel level, const ConnectionFields& fields, std::string_view message) {
    write_line(level, &fields, message);
}

} // namespace tlsgate::log
