// libFuzzer target: net::parse_address. The first byte selects allow_port_zero, the rest is
// the address text. Checks: an accepted address prints (to_string) to a text that parses
// back to the same Address; a TCP address has a host and a port (port 0 only if allowed); a
// unix socket address has an absolute path.
#include "tlsgate/net/address.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {
[[noreturn]] void fail(const char* what, std::string_view in) {
    std::fprintf(stderr, "*** INVARIANT VIOLATED: %s (input \"%.*s\")\n", what,
                 static_cast<int>(in.size()), in.data());
    std::abort();
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using tlsgate::net::Address;
    if (size == 0) {
        return 0;
    }
    bool allow_zero = (data[0] & 1) != 0;
    std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
    auto r = tlsgate::net::parse_address(text, allow_zero);
    if (!r) {
        return 0;
    }
    const Address* a = &*r;
    if (a->kind == Address::Kind::tcp) {
        if (a->host.empty()) {
            fail("accepted a TCP address without a host", text);
        }
        if (a->port == 0 && !allow_zero) {
            fail("accepted port 0", text);
        }
    } else if (a->path.empty() || a->path.front() != '/') {
        fail("accepted a unix socket path that is not absolute", text);
    }
    std::string printed = a->to_string();
    auto again = tlsgate::net::parse_address(printed, allow_zero);
    if (!again) {
        fail("to_string() of an accepted address does not parse", text);
    }
    if (!(*a == *again)) {
        fail("to_string() of an accepted address parses to a different address", text);
    }
    return 0;
}
