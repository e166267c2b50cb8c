// libFuzzer target: config::parse_duration. Checks: an accepted duration is not negative, and
// its value printed in milliseconds ("<n>ms") parses back to the same value.
#include "tlsgate/config/toml_loader.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto d = tlsgate::config::parse_duration(text);
    if (!d) {
        return 0;
    }
    if (d->count() < 0) {
        std::fprintf(stderr, "*** INVARIANT VIOLATED: negative duration %lld\n",
                     static_cast<long long>(d->count()));
        std::abort();
    }
    auto again = tlsgate::config::parse_duration(std::to_string(d->count()) + "ms");
    if (!again || *again != *d) {
        std::fprintf(stderr, "*** INVARIANT VIOLATED: %lld ms does not round-trip\n",
                     static_cast<long long>(d->count()));
        std::abort();
    }
    return 0;
}
