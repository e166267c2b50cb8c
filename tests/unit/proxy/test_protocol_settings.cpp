#include "tlsgate/proxy/protocol_settings.hpp"

#include <catch2/catch.hpp>

using namespace tlsgate;

TEST_CASE("a service's settings map onto its filter's", "[proxy][protocol_settings]") {
    config::Service service;
    service.protocol = config::Protocol::smtp;
    service.tls_mode = config::TlsMode::implicit;
    service.starttls_policy = config::StarttlsPolicy::may;
    service.auth_requires_tls = false;
    service.max_line = 1234;
    service.max_errors = 7;
    service.allow_xclient = true;
    service.early_talker = config::EarlyTalker::reject;

    const proto::FilterSettings filter = proxy::filter_settings_for(service);
    CHECK(filter.protocol == config::Protocol::smtp);
    CHECK(filter.tls_active_from_start);
    CHECK(filter.starttls_policy == config::StarttlsPolicy::may);
    CHECK_FALSE(filter.auth_requires_tls);
    CHECK(filter.max_line == 1234);
    CHECK(filter.max_errors == 7);
    CHECK(filter.allow_xclient);
    CHECK(filter.early_talker == config::EarlyTalker::reject);
    CHECK_FALSE(filter.trace_commands); // production connections never trace

    service.tls_mode = config::TlsMode::starttls;
    CHECK_FALSE(proxy::filter_settings_for(service).tls_active_from_start);
}

TEST_CASE("a client-mode service's settings map onto its prelude's", "[proxy][protocol_settings]") {
    config::Service service;
    service.protocol = config::Protocol::pop3;
    service.starttls_policy = config::StarttlsPolicy::encrypt;
    const proto::ClientPreludeSettings prelude = proxy::prelude_settings_for(service);
    CHECK(prelude.protocol == config::Protocol::pop3);
    CHECK(prelude.starttls_policy == config::StarttlsPolicy::encrypt);
}
