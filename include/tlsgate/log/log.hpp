#pragma once

#include "tlsgate/config/model.hpp"

#include <fmt/format.h>
#include <string_view>

namespace tlsgate::log {

using config::LogLevel;

// Set once at start-up from the config snapshot, before any worker thread exists.
void configure(LogLevel level, config::LogTarget target);
bool enabled(LogLevel level);
// Writes one whole line; safe to call from any worker thread.
void write(LogLevel level, std::string_view message);

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
