// libFuzzer target: the TOML config loader. Input is the text of a config file.
// Checks: no crash/sanitizer report; a result with a config has no errors and one with
// errors has no config (the loader's documented contract).
#include "tlsgate/config/toml_loader.hpp"

#include <cstdio>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto r = tlsgate::config::load_toml_string(text, "/nonexistent-fuzz-dir/tlsgate.toml");
    if (r.config.has_value() != r.errors.empty()) {
        std::fprintf(stderr, "*** INVARIANT VIOLATED: config set=%d but %zu errors\n",
                     r.config.has_value() ? 1 : 0, r.errors.size());
        std::abort();
    }
    return 0;
}
