#pragma once

#include "tlsgate/config/model.hpp"
#include "tlsgate/core/result.hpp"

#include <chrono>
#include <cstdint>
#include <fmt/format.h>
#include <string>
#include <string_view>

namespace tlsgate::log {

using config::LogLevel;

// Set once at start-up from the config snapshot, before any worker thread exists.
void configure(LogLevel level, config::LogTarget target);
// The whole [global] logging setup: level, target, syslog_ident, and log_file (opened now,
// appended to or truncated per log_append). Called before any worker thread exists. With a
// log file, lines go there instead of stderr (and to syslog as well when that is the target).
Result<> configure(const config::Global& global);
// Reopens the log file by its path (SIGUSR1, after logrotate renamed it); lines written
// meanwhile by other threads land whole in the old or the new file. Fine when there is no
// log file. After chroot the path resolves inside the chroot, and after dropping
// privileges the unprivileged user must be allowed to create it.
Result<> reopen();
// The level may change at reload; everything else about logging needs a restart.
void set_level(LogLevel level);
// While start-up errors must still reach the terminal (before a daemon detaches), error
// lines go to stderr as well as to the log file.
void echo_errors_to_stderr(bool on);
bool enabled(LogLevel level);
// What escape() leaves as it is.
enum class Escape {
    // A peer-controlled field (server name, certificate subject, ALPN name, anything a client
    // or backend chose), usually quoted: printable ASCII except '"' and '\\'.
    field,
    // A whole log line (what write() does to every message, so that no text from anywhere
    // can break a line or reach a terminal as a control sequence): printable ASCII.
    line,
};
// Text made safe for one log line: every byte escape() does not keep (control characters
// such as CR, LF and ESC, DEL, bytes past ASCII; for a field also '"' and '\\') becomes
// \xNN. Longer input is cut at `max` bytes and marked with "...". The one escaping helper:
// every log line that carries peer-controlled text goes through it.
std::string escape(std::string_view text, size_t max = 256, Escape mode = Escape::field);
// Writes one whole line; safe to call from any worker thread.
void write(LogLevel level, std::string_view message);

// What identifies the connection a line is about: written before the message as
// "conn=ID service=NAME client=ADDRESS " (client once known), so every line about one
// connection names the client (fail2ban needs no join), or as fields of a JSON line.
struct ConnectionFields {
    uint64_t conn = 0;
    std::string_view service;
    std::string_view client; // empty until the session knows its peer
};
void write(LogLevel level, const ConnectionFields& fields, std::string_view message);

// How a line is written. `journald`: stderr is the journal (JOURNAL_STREAM names stderr's
// device and inode), which stamps time and pid itself and reads the priority from a "<N>"
// prefix (sd-daemon(3)). `bare`: only the content, for syslog(3).
struct LineStyle {
    config::LogFormat format = config::LogFormat::text;
    enum class Destination { stream, journald, bare } destination = Destination::stream;
};
// One line as written, '\n' included except for `bare`; exposed for the tests. `message`
// is already escaped for a line (printable ASCII).
std::string format_line(const LineStyle& style, LogLevel level, const ConnectionFields* fields,
                        std::string_view message, std::chrono::system_clock::time_point now);
// Whether stderr is connected to the journal: $JOURNAL_STREAM is "DEVICE:INODE" of stderr.
bool stderr_is_journal();

template <typename... Args>
void emit(LogLevel level, fmt::format_string<Args...> format, Args&&... args) {
    if (enabled(level)) {
        write(level, fmt::format(format, std::forward<Args>(args)...));
    }
}

template <typename... Args> void debug(fmt::format_string<Args...> format, Args&&... args) {
    emit(LogLevel::debug, format, std::forward<Args>(args)...);
}
template <typename... Args> void info(fmt::format_string<Args...> format, Args&&... args) {
    emit(LogLevel::info, format, std::forward<Args>(args)...);
}
template <typename... Args> void notice(fmt::format_string<Args...> format, Args&&... args) {
    emit(LogLevel::notice, format, std::forward<Args>(args)...);
}
template <typename... Args> void warning(fmt::format_string<Args...> format, Args&&... args) {
    emit(LogLevel::warning, format, std::forward<Args>(args)...);
}
template <typename... Args> void error(fmt::format_string<Args...> format, Args&&... args) {
    emit(LogLevel::error, format, std::forward<Args>(args)...);
}

} // namespace tlsgate::log
