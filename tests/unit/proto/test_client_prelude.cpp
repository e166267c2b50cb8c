// What the three client preludes share (client_prelude.cpp): the failure reply, the factory.
#include "prelude_test_util.hpp"

#include <catch2/catch.hpp>

using namespace tlsgate;
using namespace tlsgate::proto;
using namespace tlsgate::proto::prelude_test;

namespace {
const auto imap = settings_for(config::Protocol::imap);
const auto pop3 = settings_for(config::Protocol::pop3);
const auto smtp = settings_for(config::Protocol::smtp);
} // namespace

TEST_CASE("client prelude: failure_reply per protocol, sanitized and bounded", "[client_prelude]") {
    auto i = make_client_prelude(imap);
    auto p = make_client_prelude(pop3);
    auto s = make_client_prelude(smtp);
    CHECK(i->failure_reply("connection refused") == "* BYE [UNAVAILABLE] connection refused\r\n");
    CHECK(p->failure_reply("connection refused") == "-ERR [SYS/TEMP] connection refused\r\n");
    CHECK(s->failure_reply("connection refused") == "421 4.7.0 connection refused\r\n");
    CHECK(s->failure_reply("a\r\n250 OK\r\nb") == "421 4.7.0 a  250 OK  b\r\n");
    std::string longer = s->failure_reply(std::string(1000, 'z'));
    CHECK(longer.size() <= 200 + 12);
    CHECK(longer.find('\n') == longer.size() - 1);
    CHECK(longer.find('\r') == longer.size() - 2);
    // A UTF-8 sequence is not cut in half.
    std::string utf = std::string(199, 'a') + "\xc3\xa9";
    CHECK(s->failure_reply(utf) == "421 4.7.0 " + std::string(199, 'a') + "\r\n");
    CHECK(s->failure_reply("") == "421 4.7.0 server unavailable\r\n");
}

TEST_CASE("client prelude: raw has no prelude", "[client_prelude]") {
    CHECK(make_client_prelude(settings_for(config::Protocol::raw)) == nullptr);
}
