#include "support/test_certs.hpp"
#include "tlsgate/tls/certificate_dates.hpp"
#include "tlsgate/tls/context.hpp"

#include <catch2/catch.hpp>

using namespace tlsgate;

namespace {

constexpr std::time_t kDay = 24 * 60 * 60;
constexpr std::time_t kNow = 1'800'000'000; // 2027-01-15 08:00:00 UTC

tls::CertificateDates dates(std::time_t not_before, std::time_t not_after) {
    return {"/CN=mail.example.org", not_before, not_after};
}

} // namespace

TEST_CASE("validity problems: expired, not yet valid, expiring soon", "[certificate_dates]") {
    const std::chrono::seconds two_weeks{14 * kDay};
    SECTION("a certificate well within its period is fine") {
        CHECK(tls::validity_problems({dates(kNow - 10 * kDay, kNow + 90 * kDay)}, two_weeks, kNow)
                  .empty());
    }
    SECTION("expired") {
        auto p = tls::validity_problems({dates(kNow - 10 * kDay, kNow - 1)}, two_weeks, kNow);
        REQUIRE(p.size() == 1);
        CHECK(p[0] == "certificate /CN=mail.example.org has expired (not after 2027-01-15 "
                      "07:59:59 UTC)");
    }
    SECTION("not yet valid") {
        auto p = tls::validity_problems({dates(kNow + kDay, kNow + 90 * kDay)}, two_weeks, kNow);
        REQUIRE(p.size() == 1);
        CHECK(p[0] ==
              "certificate /CN=mail.example.org is not valid before 2027-01-16 08:00:00 UTC");
    }
    SECTION("expires within the window: whole days left") {
        auto p = tls::validity_problems({dates(kNow - kDay, kNow + 5 * kDay - 1)}, two_weeks, kNow);
        REQUIRE(p.size() == 1);
        CHECK(p[0] == "certificate /CN=mail.example.org expires in 4 days (2027-01-20 07:59:59 "
                      "UTC)");
        CHECK(tls::validity_problems({dates(kNow - kDay, kNow + kDay + 5)}, two_weeks, kNow)[0] ==
              "certificate /CN=mail.example.org expires in 1 day (2027-01-16 08:00:05 UTC)");
    }
    SECTION("a zero window warns only about expired and not yet valid certificates") {
        CHECK(tls::validity_problems({dates(kNow - kDay, kNow + 60)}, std::chrono::seconds(0), kNow)
                  .empty());
    }
}

TEST_CASE("served certificates carry the dates of the loaded leaf", "[certificate_dates]") {
    config::TlsSettings settings;
    settings.cert = {test::test_pki().chain_cert};
    settings.key = {test::test_pki().leaf_key};
    auto built = tls::build_server_context(settings, "tls");
    REQUIRE(built.ctx);
    auto served = tls::served_certificates(built.ctx.get());
    REQUIRE(served.size() == 1);
    CHECK(served[0].subject.find("CN=") != std::string::npos);
    CHECK(served[0].not_before < served[0].not_after);
    CHECK(served[0].not_after > std::time(nullptr));
}
