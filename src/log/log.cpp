#include "tlsgate/log/log.hpp"

#include <atomic>
#include <chrono>
#include <ctime>
#include <syslog.h>
#include <unistd.h>

namespace tlsgate::log {
namespace {

// The logger's settings are part of the process config snapshot: written once before the
// workers start, read-only afterwards.
std::atomic<int> g_min_level{static_cast<int>(LogLevel::info)};
std::atomic<bool> g_use_syslog{false};

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

bool enabled(LogLevel level) {
    return static_cast<int>(level) >= g_min_level.load();
}

void write(LogLevel level, std::string_view message) {
    if (g_use_syslog) {
        syslog(syslog_priority(level), "%.*s", static_cast<int>(message.size()), message.data());
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
    size_t done = 0;
    while (done < line.size()) {
        const ssize_t n = ::write(STDERR_FILENO, line.data() + done, line.size() - done);
        if (n <= 0) {
            break;
        }
        done += static_cast<size_t>(n);
    }
}

} // namespace tlsgate::log
