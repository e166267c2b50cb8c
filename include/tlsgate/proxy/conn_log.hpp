#pragma once

#include "tlsgate/config/model.hpp"
#include "tlsgate/log/log.hpp"

#include <cstdint>
#include <fmt/format.h>
#include <iterator>
#include <string>
#include <utility>

namespace tlsgate::proxy {

// The log of one connection: every line starts with "conn=ID service=NAME client=ADDRESS "
// (see log::ConnectionFields), and goes out
// at the service's own log level when it has one (else whatever the global level lets
// through). The parts of a session share one ConnLog, so none of them writes the prefix.
class ConnLog {
public:
    ConnLog(uint64_t id, const config::Service& service) : id_(id) { bind(service); }

    // The service whose name and level apply from now on (an SNI route changes it).
    void bind(const config::Service& service);

    uint64_t id() const { return id_; }
    // The client's address ("192.0.2.7:51234", "unix", "pipe"), named on every line from
    // now on.
    void set_client(std::string client) { client_ = std::move(client); }

    template <typename... Args>
    void operator()(config::LogLevel level, fmt::format_string<Args...> format,
                    Args&&... args) const {
        if (level < threshold_) {
            return;
        }
        fmt::memory_buffer message;
        fmt::format_to(std::back_inserter(message), format, std::forward<Args>(args)...);
        log::write(level, log::ConnectionFields{id_, service_, client_},
                   std::string_view(message.data(), message.size()));
    }

private:
    uint64_t id_;
    std::string service_;
    std::string client_;
    config::LogLevel threshold_ = config::LogLevel::info;
};

} // namespace tlsgate::proxy
