#include "tlsgate/tls/fips.hpp"

#include <catch2/catch.hpp>
#include <openssl/crypto.h>
#include <string>
#include <sys/stat.h>

TEST_CASE("fips = true without a FIPS provider is an error that says so") {
    // Where it is installed, loading it would switch this whole test process to FIPS mode.
    const std::string module = std::string(OPENSSL_info(OPENSSL_INFO_MODULES_DIR)) + "/fips.so";
    struct stat st {};
    if (::stat(module.c_str(), &st) == 0) {
        WARN("FIPS provider installed (" << module << "): not tested here");
        return;
    }
    auto result = tlsgate::tls::enable_fips();
    REQUIRE_FALSE(result);
    CHECK_THAT(result.error().message,
               Catch::StartsWith("fips = true but OpenSSL's FIPS provider cannot be "
                                 "loaded"));
}
