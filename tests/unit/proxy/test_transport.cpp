// Two transports over a socketpair on a private loop: one answers TLS as a server (the
// session's client end), the other speaks TLS as a client (the backend end). The layers
// above see plaintext only.
#include "support/test_certs.hpp"
#include "tlsgate/proxy/transport.hpp"

#include <catch2/catch.hpp>
#include <functional>
#include <openssl/ssl.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

using tlsgate::proxy::CloseMode;
using tlsgate::proxy::Transport;

namespace {

// Records what a transport reports, and forwards its stream's events to it.
struct Recorder final : tlsgate::proxy::TransportHandler, tlsgate::net::StreamHandler {
    Transport* transport = nullptr;
    std::string plaintext;
    int handshakes = 0;
    int close_notifies = 0;
    int closed_streams = 0;
    std::vector<std::string> failures;

    void on_transport_plaintext(Transport&, const char* data, size_t size) override {
        plaintext.append(data, size);
    }
    void on_transport_handshake_done(Transport&) override { ++handshakes; }
    void on_transport_handshake_failed(Transport&, const std::string& reason) override {
        failures.push_back("handshake: " + reason);
    }
    void on_transport_close_notify(Transport& end) override {
        ++close_notifies;
        end.finish_input(Transport::Input::finished);
    }
    void on_transport_failed(Transport&, const std::string& reason, CloseMode) override {
        failures.push_back(reason);
    }

    void on_stream_read(tlsgate::net::Stream&, const char* data, size_t size) override {
        transport->receive(data, size);
    }
    void on_stream_eof(tlsgate::net::Stream&) override {}
    void on_stream_error(tlsgate::net::Stream&, int) override {}
    void on_stream_connected(tlsgate::net::Stream&, int) override {}
    void on_stream_drained(tlsgate::net::Stream&) override {}
    void on_stream_shutdown(tlsgate::net::Stream&, int) override {}
    void on_stream_closed(tlsgate::net::Stream&) override { ++closed_streams; }
};

struct CtxDeleter {
    void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
using Ctx = std::unique_ptr<SSL_CTX, CtxDeleter>;

Ctx server_ctx() {
    Ctx ctx(SSL_CTX_new(TLS_server_method()));
    const auto& pki = tlsgate::test::test_pki();
    REQUIRE(SSL_CTX_use_certificate_chain_file(ctx.get(), pki.chain_cert.c_str()) == 1);
    REQUIRE(SSL_CTX_use_PrivateKey_file(ctx.get(), pki.leaf_key.c_str(), SSL_FILETYPE_PEM) == 1);
    return ctx;
}

Ctx client_ctx() {
    Ctx ctx(SSL_CTX_new(TLS_client_method()));
    REQUIRE(SSL_CTX_load_verify_locations(ctx.get(), tlsgate::test::test_pki().root_cert.c_str(),
                                          nullptr) == 1);
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    return ctx;
}

// A loop, a socketpair and a transport on each end.
struct Pair {
    uv_loop_t loop{};
    tlsgate::net::ReadBuffer read_buffer;
    tlsgate::net::ReadBuffer plaintext_buffer;
    tlsgate::core::ChunkPool pool;
    Recorder server_side; // answers TLS: the session's client end
    Recorder client_side; // speaks TLS: the session's backend end
    std::unique_ptr<Transport> server;
    std::unique_ptr<Transport> client;
    std::vector<Ctx> contexts;

    Pair() {
        REQUIRE(uv_loop_init(&loop) == 0);
        int fds[2];
        REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
        server = std::make_unique<Transport>(&loop, tlsgate::net::Address::Kind::unix_socket,
                                             server_side, server_side, read_buffer,
                                             plaintext_buffer, pool, Transport::Side::client);
        client = std::make_unique<Transport>(&loop, tlsgate::net::Address::Kind::unix_socket,
                                             client_side, client_side, read_buffer,
                                             plaintext_buffer, pool, Transport::Side::backend);
        server_side.transport = server.get();
        client_side.transport = client.get();
        REQUIRE(server->stream().open_fd(fds[0]) == 0);
        REQUIRE(client->stream().open_fd(fds[1]) == 0);
        server->stream().start_reading();
        client->stream().start_reading();
    }
    ~Pair() {
        server->stream().close();
        client->stream().close();
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
    }
    // Starts TLS on both ends (the server end keeps its contexts alive in `contexts`) and
    // sends the ClientHello; the client checks the certificate names `check_host`.
    void start_tls(const std::string& check_host) {
        contexts.push_back(server_ctx());
        contexts.push_back(client_ctx());
        REQUIRE(server->start_tls(contexts[0].get(), "", "").ok());
        REQUIRE(client->start_tls(contexts[1].get(), "localhost", check_host).ok());
        CHECK(client->in_handshake());
        client->drive(); // ClientHello
    }
    void run_until(const std::function<bool()>& done) {
        for (int i = 0; i < 1000 && !done(); ++i) {
            uv_run(&loop, UV_RUN_NOWAIT);
        }
    }
};

} // namespace

TEST_CASE("a transport without TLS passes bytes up as they are", "[proxy][transport]") {
    Pair pair;
    REQUIRE(pair.client->send("hello", 5));
    pair.run_until([&] { return pair.server_side.plaintext.size() == 5; });
    CHECK(pair.server_side.plaintext == "hello");
    CHECK_FALSE(pair.server->has_tls());
}

TEST_CASE("two TLS transports shake hands and carry plaintext both ways, then close_notify",
          "[proxy][transport]") {
    Pair pair;
    pair.start_tls("localhost");
    pair.run_until(
        [&] { return pair.server_side.handshakes == 1 && pair.client_side.handshakes == 1; });
    REQUIRE(pair.server->tls_up());
    REQUIRE(pair.client->tls_up());

    REQUIRE(pair.client->send("a LOGIN x y\r\n", 13));
    REQUIRE(pair.server->send("* OK\r\n", 6));
    pair.run_until([&] {
        return pair.server_side.plaintext.size() == 13 && pair.client_side.plaintext.size() == 6;
    });
    CHECK(pair.server_side.plaintext == "a LOGIN x y\r\n");
    CHECK(pair.client_side.plaintext == "* OK\r\n");

    pair.client->send_close_notify();
    pair.client->send_close_notify(); // once only
    pair.run_until([&] { return pair.server_side.close_notifies == 1; });
    CHECK(pair.server_side.close_notifies == 1);
    CHECK(pair.server->input() == Transport::Input::finished);
    CHECK(pair.server_side.failures.empty());
    CHECK(pair.client_side.failures.empty());
}

TEST_CASE("a handshake that cannot verify the peer fails up, naming the reason",
          "[proxy][transport]") {
    Pair pair;
    pair.start_tls("not-localhost.example");
    pair.run_until([&] { return !pair.client_side.failures.empty(); });
    REQUIRE(pair.client_side.failures.size() == 1);
    CHECK(pair.client_side.failures[0].rfind("handshake: ", 0) == 0);
    CHECK_FALSE(pair.client->tls_up());
}

TEST_CASE("plaintext for an end still in its handshake is refused, not queued",
          "[proxy][transport]") {
    Pair pair;
    Ctx sctx = server_ctx();
    REQUIRE(pair.server->start_tls(sctx.get(), "", "").ok());
    CHECK_FALSE(pair.server->send("early", 5));
    REQUIRE(pair.server_side.failures.size() == 1);
    CHECK(pair.server_side.failures[0] ==
          "data arrived for an end whose TLS handshake is still running");
}
