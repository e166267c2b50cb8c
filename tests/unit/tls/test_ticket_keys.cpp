#include "support/tls_pki.hpp"
#include "tlsgate/tls/ticket_keys.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <string>

using namespace tlsgate;

TEST_CASE("ticket key file: one key per line, 160 hex digits, first encrypts") {
    const std::string a = test::random_ticket_key_line();
    const std::string b = test::random_ticket_key_line();
    SECTION("two keys, comments and blank lines") {
        auto keys = tls::parse_ticket_key_file("# made by openssl rand -hex 80\n" + a + "\n\n  " +
                                               b + "  \r\n");
        REQUIRE(keys);
        REQUIRE(keys->size() == 2);
        CHECK((*keys)[0].name[0] == std::stoi(a.substr(0, 2), nullptr, 16));
        CHECK((*keys)[0].hmac_key[0] == std::stoi(a.substr(32, 2), nullptr, 16));
        CHECK((*keys)[0].aes_key[0] == std::stoi(a.substr(96, 2), nullptr, 16));
        CHECK((*keys)[0].aes_size == 32);
    }
    SECTION("a short line names its line") {
        auto keys = tls::parse_ticket_key_file(a + "\n" + b.substr(2) + "\n");
        REQUIRE_FALSE(keys);
        CHECK_THAT(keys.error().message,
                   Catch::StartsWith("line 2: expected 160 hexadecimal digits"));
    }
    SECTION("not hexadecimal") {
        auto keys = tls::parse_ticket_key_file(std::string(160, 'g'));
        REQUIRE_FALSE(keys);
        CHECK_THAT(keys.error().message, Catch::StartsWith("line 1:"));
    }
    SECTION("two keys with one name") {
        auto keys = tls::parse_ticket_key_file(a + "\n" + a.substr(0, 32) + b.substr(32));
        REQUIRE_FALSE(keys);
        CHECK_THAT(keys.error().message, Catch::Contains("same name"));
    }
    SECTION("no key at all") {
        auto keys = tls::parse_ticket_key_file("# nothing\n\n");
        REQUIRE_FALSE(keys);
        CHECK_THAT(keys.error().message, Catch::Contains("no key"));
    }
}

TEST_CASE("fixed ticket key from stunnel-style secrets") {
    const std::string aes(64, 'a');
    const std::string mac(32, 'b');
    auto one = tls::ticket_key_from_secrets(aes, mac);
    auto two = tls::ticket_key_from_secrets(aes, mac);
    REQUIRE(one);
    REQUIRE(two);
    CHECK(one->name == two->name); // every process with these secrets names the key alike
    CHECK(one->aes_size == 32);
    CHECK(one->hmac_size == 16);
    CHECK_FALSE(tls::ticket_key_from_secrets("abc", mac));
}

TEST_CASE("generated ticket keys rotate and keep the previous key for one period") {
    using namespace std::chrono_literals;
    auto made = tls::TicketKeyStore::generated(10s);
    REQUIRE(made);
    auto store = *made;
    const auto start = tls::TicketKeyStore::Clock::now();
    auto first = store->keys(start);
    REQUIRE(first->size() == 1);
    CHECK(*store->keys(start + 5s) == *first);
    auto second = store->keys(start + 11s);
    REQUIRE(second->size() == 2);
    CHECK((*second)[1] == (*first)[0]); // the old key still decrypts
    CHECK_FALSE((*second)[0] == (*first)[0]);
    auto third = store->keys(start + 21s);
    REQUIRE(third->size() == 2);
    CHECK((*third)[1] == (*second)[0]); // the oldest is gone
    CHECK_FALSE((*third)[0] == (*first)[0]);
    CHECK_FALSE((*third)[1] == (*first)[0]);
}

TEST_CASE("ticket key file is reloaded when it changes; a bad new file keeps the old keys") {
    using namespace std::chrono_literals;
    const std::string a = test::random_ticket_key_line();
    const std::string b = test::random_ticket_key_line();
    const std::string path = test::write_ticket_key_file("reload.keys", a + "\n");
    auto made = tls::TicketKeyStore::from_file(path);
    REQUIRE(made);
    auto store = *made;
    const auto start = tls::TicketKeyStore::Clock::now();
    auto before = store->keys(start);
    REQUIRE(before->size() == 1);

    test::write_ticket_key_file("reload.keys", b + "\n" + a + "\n");
    CHECK(*store->keys(start) == *before); // looked at no more than once a second
    auto after = store->keys(start + 2s);
    REQUIRE(after->size() == 2);
    CHECK((*after)[1] == (*before)[0]);

    test::write_ticket_key_file("reload.keys", "not a key\n");
    CHECK(*store->keys(start + 4s) == *after);

    auto refused = tls::TicketKeyStore::from_file(path);
    REQUIRE_FALSE(refused);
    CHECK_THAT(refused.error().message,
               Catch::Contains("reload.keys") && Catch::Contains("line 1"));
}
