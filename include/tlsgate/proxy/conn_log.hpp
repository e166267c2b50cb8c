#pragma once

#include "tlsgate/config/model.hpp"
#include "tlsgate/log/log.hpp"

#include <cstdint>
#include <fmt/format.h>
#include <iterator>
#include <string>
#include <utility>

namespace tlsgate::proxy {

// The log of one connection: every line starts with "conn=ID service=NAME ", and goes out
// at the service's own log level when it has one (else whatever the global level lets
// through). The parts of a session share one ConnLog, so none of them writes the prefix.
class ConnLog {
public:
    ConnLog(uint64_t id, const config::Service& service) : id_(id) { bind(service); }

    // The service whose name and level apply from now on (an SNI route changes it).
    void bind(const config::Service& service);

    uint64_t id() const { return id_; }

    template <typename... Args>
    void operator()(config::LogLevel level, fmt::format_string<Args...> format,
                    Args&&... args) const {
        if (level < threshold_) {
            return;
        }
        fmt::memory_buffer line;
        fmt::format_to(std::back_inserter(line), "conn={} service={} ", id_, service_);
        fmt::format_to(std::back_inserter(line), format, std::forward<Args>(args)...);
        log::write(level, std::string_view(line.data(), line.size()));
    }

private:
    uint64_t id_;
    std::string service_;
    config::LogLevel threshold_ = config::LogLevel::info;
};

} // namespace tlsgate::proxy
