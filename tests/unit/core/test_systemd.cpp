#include "tlsgate/core/systemd.hpp"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <cstring>
#include <fmt/format.h>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace systemd = tlsgate::core::systemd;

namespace {

// A datagram socket standing in for systemd's notify socket; `abstract` binds it in the
// abstract namespace, which NOTIFY_SOCKET spells "@name".
class FakeNotifySocket {
public:
    explicit FakeNotifySocket(bool abstract) {
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        name_ = fmt::format("{}/tlsgate-unit-notify-{}", abstract ? "@" : "/tmp", getpid());
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::memcpy(address.sun_path, name_.data(), name_.size());
        if (abstract) {
            address.sun_path[0] = '\0';
        } else {
            ::unlink(name_.c_str());
        }
        const auto size = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name_.size());
        REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&address), size) == 0);
        ::setenv("NOTIFY_SOCKET", name_.c_str(), 1);
    }
    ~FakeNotifySocket() {
        ::unsetenv("NOTIFY_SOCKET");
        ::close(fd_);
        if (name_[0] == '/') {
            ::unlink(name_.c_str());
        }
    }
    std::string receive() {
        char buffer[512];
        const ssize_t n = ::recv(fd_, buffer, sizeof buffer, MSG_DONTWAIT);
        return n < 0 ? std::string("(nothing)") : std::string(buffer, static_cast<size_t>(n));
    }

private:
    int fd_ = -1;
    std::string name_;
};

} // namespace

TEST_CASE("notify sends one datagram to the socket NOTIFY_SOCKET names", "[systemd]") {
    for (bool abstract : {false, true}) {
        FakeNotifySocket fake(abstract);
        REQUIRE(systemd::notify_enabled());
        systemd::notify("READY=1\nSTATUS=running");
        CHECK(fake.receive() == "READY=1\nSTATUS=running");
    }
}

TEST_CASE("notify without NOTIFY_SOCKET does nothing", "[systemd]") {
    ::unsetenv("NOTIFY_SOCKET");
    CHECK_FALSE(systemd::notify_enabled());
    systemd::notify("READY=1"); // must not crash or block
}

TEST_CASE("RELOADING=1 carries the monotonic time systemd asks for", "[systemd]") {
    const std::string state = systemd::reloading_state();
    CHECK(state.rfind("RELOADING=1\nMONOTONIC_USEC=", 0) == 0);
    CHECK(std::stoull(state.substr(state.find('=', 12) + 1)) > 0);
}

TEST_CASE("sockets passed to another process are left alone", "[systemd]") {
    ::setenv("LISTEN_PID", "1", 1);
    ::setenv("LISTEN_FDS", "1", 1);
    CHECK(systemd::adopt_inherited_sockets() == 0);
    // Not ours: the variables stay for the process they were meant for.
    CHECK(std::getenv("LISTEN_FDS") != nullptr);
    ::unsetenv("LISTEN_PID");
    ::unsetenv("LISTEN_FDS");
    CHECK(systemd::unused_inherited_sockets().empty());
}
