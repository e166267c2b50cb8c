#pragma once

#include "tlsgate/config/model.hpp"
#include "tlsgate/proto/client_prelude.hpp"
#include "tlsgate/proto/filter.hpp"

namespace tlsgate::proxy {

// What a service's settings mean for its protocol dialogue: the server-side filter's
// settings (server mode) and the client-side prelude's (client mode, STARTTLS).
proto::FilterSettings filter_settings_for(const config::Service& service);
proto::ClientPreludeSettings prelude_settings_for(const config::Service& service);

} // namespace tlsgate::proxy
