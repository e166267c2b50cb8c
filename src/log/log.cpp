#include "tlsgate/log/log.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <filesystem>
#include <iterator>
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
    const bool use_syslog = target == config::LogTarget::syslog;
    if (use_syslog && !g_use_syslog) {
        openlog("tlsgate", LOG_PID | LOG_NDELAY, LOG_MAIL);
    }
    g_use_syslog = use_syslog;
}

Result<> configure(const config::Global& global) {
    g_min_level = static_cast<int>(global.log_level);
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

void write(LogLevel level, std::string_view raw_message) {
    // Fields are escaped where they are formatted; this catches whatever was not, so that no
    // message ever holds a line break or a terminal control sequence.
    const bool clean = std::all_of(raw_message.begin(), raw_message.end(), [](char c) {
        return static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f;
    });
    const std::string escaped =
        clean ? std::string() : escape(raw_message, raw_message.size(), Escape::line);
    const std::string_view message = clean ? raw_message : std::string_view(escaped);
    if (g_use_syslog) {
        syslog(syslog_priority(level), "%.*s", static_cast<int>(message.size()), message.data());
    }
    const int file_fd = g_file_fd.load();
    if (g_use_syslog && file_fd < 0) {
        return;
    }
    const auto now = std::chrono::system_clock::now();
    const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
    const auto millis =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() %
        1000;
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
    // One write(2) per line keeps lines from different workers whole.
    const std::string line = fmt::format("{}.{:03d}Z tlsgate[{}]: {}: {}\n", stamp, millis,
                                         getpid(), config::to_string(level), message);
    if (file_fd < 0) {
        write_all(STDERR_FILENO, line);
        return;
    }
    write_all(file_fd, line);
    if (g_echo_errors && level == LogLevel::error) {
        write_all(STDERR_FILENO, line);
    }
}

void write(LogLevel level, const ConnectionFields& fields, std::string_view message) {
    fmt::memory_buffer line;
    fmt::format_to(std::back_inserter(line), "conn={} service={} ", fields.conn, fields.service);
    if (!fields.client.empty()) {
        fmt::format_to(std::back_inserter(line), "client={} ", fields.client);
    }
    line.append(message);
    write(level, std::string_view(line.data(), line.size()));
}

} // namespace tlsgate::log
