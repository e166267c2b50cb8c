#include "tlsgate/proxy/protocol_settings.hpp"

namespace tlsgate::proxy {

proto::FilterSettings filter_settings_for(const config::Service& service) {
    proto::FilterSettings settings;
    settings.protocol = service.protocol;
    settings.tls_active_from_start = service.tls_mode == config::TlsMode::implicit;
    settings.starttls_policy = service.starttls_policy;
    settings.auth_requires_tls = service.auth_requires_tls;
    settings.max_line = service.max_line;
    settings.max_errors = service.max_errors;
    settings.allow_xclient = service.allow_xclient;
    settings.early_talker = service.early_talker;
    return settings;
}

proto::ClientPreludeSettings prelude_settings_for(const config::Service& service) {
    proto::ClientPreludeSettings settings;
    settings.protocol = service.protocol;
    settings.starttls_policy = service.starttls_policy;
    return settings;
}

} // namespace tlsgate::proxy
