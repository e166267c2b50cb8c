#include "filter_test_util.hpp"
#include "tlsgate/proto/imap_filter.hpp"

#include <catch2/catch.hpp>

using namespace tlsgate;
using namespace tlsgate::proto;
using namespace tlsgate::proto::test;

namespace {
FilterSettings imap(bool implicit = false,
                    config::StarttlsPolicy policy = config::StarttlsPolicy::encrypt) {
    return settings_for(config::Protocol::imap, implicit, policy);
}
const std::string kGreeting = "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN AUTH=LOGIN "
                              "LITERAL+ STARTTLS] Dovecot ready.\r\n";
const std::string kGreetingOut =
    "* OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL+ STARTTLS LOGINDISABLED] Dovecot ready.\r\n";
} // namespace

TEST_CASE("imap: greeting capability code rewritten before TLS", "[imap]") {
    auto r = run_both(imap(), {B(kGreeting)});
    CHECK(r.to_client == kGreetingOut);
    CHECK(r.to_backend.empty());
}
