#include "tlsgate/proxy/backend_connector.hpp"

#include <catch2/catch.hpp>

using tlsgate::net::Address;
using tlsgate::proxy::BackendConnector;
using tlsgate::proxy::Service;

namespace {

Address tcp(const std::string& host, uint16_t port) {
    Address a;
    a.kind = Address::Kind::tcp;
    a.host = host;
    a.port = port;
    return a;
}

Address unix_socket(const std::string& path) {
    Address a;
    a.kind = Address::Kind::unix_socket;
    a.path = path;
    return a;
}

} // namespace

TEST_CASE("prio tries the backends in their order, every connection from the first",
          "[proxy][connector]") {
    Service service;
    service.settings.failover = tlsgate::config::Failover::prio;
    service.settings.backends = {tcp("a", 1), tcp("b", 2), tcp("c", 3)};
    for (int i = 0; i < 3; ++i) {
        CHECK(BackendConnector::plan(service) == std::vector<size_t>{0, 1, 2});
    }
}

TEST_CASE("rr starts each connection at the next backend and falls over to the rest",
          "[proxy][connector]") {
    Service service;
    service.settings.failover = tlsgate::config::Failover::rr;
    service.settings.backends = {tcp("a", 1), tcp("b", 2), tcp("c", 3)};
    CHECK(BackendConnector::plan(service) == std::vector<size_t>{0, 1, 2});
    CHECK(BackendConnector::plan(service) == std::vector<size_t>{1, 2, 0});
    CHECK(BackendConnector::plan(service) == std::vector<size_t>{2, 0, 1});
    CHECK(BackendConnector::plan(service) == std::vector<size_t>{0, 1, 2});
}

TEST_CASE("the first attempt's handle is of the first planned backend's kind; exec is a unix "
          "socket",
          "[proxy][connector]") {
    Service service;
    service.settings.backends = {tcp("a", 1), unix_socket("/run/b.sock")};
    CHECK(BackendConnector::first_kind(service, {0, 1}) == Address::Kind::tcp);
    CHECK(BackendConnector::first_kind(service, {1, 0}) == Address::Kind::unix_socket);

    Service exec;
    exec.settings.exec = "/bin/cat";
    CHECK(BackendConnector::plan(exec).empty());
    CHECK(BackendConnector::first_kind(exec, {}) == Address::Kind::unix_socket);
}
