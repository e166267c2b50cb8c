#include "support/handshake.hpp"
#include "support/tls_pki.hpp"
#include "tlsgate/tls/engine.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <string>

using namespace tlsgate;
using Handshake = test::MemoryHandshake;

TEST_CASE("engine relays application data and close_notify") {
    auto server = test::build_server_or_fail(test::rsa_server_settings());
    auto client = test::plain_client_context(TLS1_2_VERSION, 0);
    Handshake handshake(server.get(), client.get());
    REQUIRE(handshake.run());
    REQUIRE(handshake.client.write("hello", 5) == tls::TlsEngine::Status::ok);
    Handshake::pump(handshake.client, handshake.server);
    char buffer[64];
    size_t size = 0;
    REQUIRE(handshake.server.read(buffer, sizeof buffer, size) == tls::TlsEngine::Status::ok);
    CHECK(std::string(buffer, size) == "hello");
    handshake.client.shutdown();
    Handshake::pump(handshake.client, handshake.server);
    CHECK(handshake.server.read(buffer, sizeof buffer, size) == tls::TlsEngine::Status::closed);
}

// Ciphertext lent to the engine (TlsEngine::Loan) instead of fed: records split at every
// offset, and the first loan only partly read, so whatever OpenSSL did not take must be queued
// when the loan ends and read before the next loan's bytes. Two records of different content show
// any reordering or loss.
TEST_CASE("engine reads lent ciphertext split at every offset, in order") {
    auto server = test::build_server_or_fail(test::rsa_server_settings());
    auto client = test::plain_client_context(TLS1_3_VERSION, 0);
    Handshake handshake(server.get(), client.get());
    REQUIRE(handshake.run());
    const std::string first(700, 'a');
    const std::string second = "second record";
    REQUIRE(handshake.client.write(first.data(), first.size()) == tls::TlsEngine::Status::ok);
    REQUIRE(handshake.client.write(second.data(), second.size()) == tls::TlsEngine::Status::ok);
    std::string wire(handshake.client.pending_ciphertext(), '\0');
    REQUIRE(handshake.client.take_ciphertext(wire.data(), wire.size()) == wire.size());

    // Each split needs a fresh connection state: replay the same two records into new pairs.
    for (size_t cut = 0; cut <= wire.size(); ++cut) {
        Handshake pair(server.get(), client.get());
        REQUIRE(pair.run());
        REQUIRE(pair.client.write(first.data(), first.size()) == tls::TlsEngine::Status::ok);
        REQUIRE(pair.client.write(second.data(), second.size()) == tls::TlsEngine::Status::ok);
        std::string bytes(pair.client.pending_ciphertext(), '\0');
        REQUIRE(pair.client.take_ciphertext(bytes.data(), bytes.size()) == bytes.size());
        std::string got;
        char buffer[4096];
        size_t size = 0;
        auto read_all = [&] {
            while (pair.server.read(buffer, sizeof buffer, size) == tls::TlsEngine::Status::ok) {
                got.append(buffer, size);
            }
        };
        {
            // One short read only: OpenSSL takes one record at a time, so from the second
            // record on, lent bytes are left over when the loan ends and must be queued.
            const tls::TlsEngine::Loan loan(pair.server, bytes.data(), cut);
            if (pair.server.read(buffer, 10, size) == tls::TlsEngine::Status::ok) {
                got.append(buffer, size);
            }
        }
        // The lent buffer is reused by the caller once the loan ends: scribble over it.
        std::string rest = bytes.substr(cut);
        std::fill(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(cut), 'X');
        {
            const tls::TlsEngine::Loan loan(pair.server, rest.data(), rest.size());
            read_all();
        }
        INFO("cut at " << cut << " of " << bytes.size());
        CHECK(got == first + second);
    }
}
