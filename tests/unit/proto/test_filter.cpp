// The server filter factory (filter.cpp).
#include "tlsgate/proto/filter.hpp"

#include <catch2/catch.hpp>

using namespace tlsgate;
using namespace tlsgate::proto;

namespace {

std::unique_ptr<ServerFilter> filter_for(config::Protocol protocol) {
    FilterSettings s;
    s.protocol = protocol;
    return make_server_filter(s);
}

} // namespace

TEST_CASE("filter: one filter per mail protocol, none for raw", "[filter]") {
    CHECK(filter_for(config::Protocol::raw) == nullptr);
    auto imap = filter_for(config::Protocol::imap);
    auto pop3 = filter_for(config::Protocol::pop3);
    auto smtp = filter_for(config::Protocol::smtp);
    REQUIRE(imap);
    REQUIRE(pop3);
    REQUIRE(smtp);
    CHECK(imap->backend_unavailable_reply().rfind("* BYE [UNAVAILABLE] ", 0) == 0);
    CHECK(pop3->backend_unavailable_reply().rfind("-ERR [SYS/TEMP] ", 0) == 0);
    CHECK(smtp->backend_unavailable_reply().rfind("421 ", 0) == 0);
    for (auto* f : {imap.get(), pop3.get(), smtp.get()}) {
        CHECK_FALSE(f->transparent());
        CHECK_FALSE(f->tls_active());
        CHECK(f->wants_client_input());
    }
}

TEST_CASE("filter: implicit TLS starts in the after-TLS state", "[filter]") {
    FilterSettings s;
    s.protocol = config::Protocol::imap;
    s.tls_active_from_start = true;
    CHECK(make_server_filter(s)->tls_active());
}

TEST_CASE("filter: quiet only with no client input held and no reply owed", "[filter]") {
    FilterSettings s;
    s.protocol = config::Protocol::imap;
    s.tls_active_from_start = true;
    auto f = make_server_filter(s);
    Actions greeting;
    f->on_backend_data("* OK ready\r\n", greeting);
    CHECK(f->quiet());
    Actions partial;
    f->on_client_data("a1 NO", partial);
    CHECK_FALSE(f->quiet()); // a partial line held
    Actions rest;
    f->on_client_data("OP\r\n", rest);
    CHECK(rest.to_backend == "a1 NOOP\r\n");
    CHECK_FALSE(f->quiet()); // its reply is owed
    Actions reply;
    f->on_backend_data("a1 OK done\r\n", reply);
    CHECK(f->quiet());
}
