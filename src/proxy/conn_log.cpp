#include "tlsgate/proxy/conn_log.hpp"

namespace tlsgate::proxy {

void ConnLog::bind(const config::Service& service) {
    service_ = service.name;
    if (service.log_level) {
        threshold_ = *service.log_level;
        return;
    }
    // No override: whatever the global level lets through.
    threshold_ = config::LogLevel::error;
    for (auto level : {config::LogLevel::debug, config::LogLevel::info, config::LogLevel::notice,
                       config::LogLevel::warning}) {
        if (log::enabled(level)) {
            threshold_ = level;
            return;
        }
    }
}

} // namespace tlsgate::proxy
