#include "tlsgate/tls/fips.hpp"

#include "tlsgate/tls/openssl_ptr.hpp"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

namespace tlsgate::tls {

Result<FipsProviders> enable_fips() {
    ERR_clear_error();
    ProviderPtr fips(OSSL_PROVIDER_load(nullptr, "fips"));
    if (!fips) {
        ERR_clear_error(); // "could not load the shared library", twice: the path says more
        return Error{fmt::format("fips = true but OpenSSL's FIPS provider cannot be loaded (is "
                                 "{}/fips.so installed and set up with `openssl fipsinstall`?)",
                                 OPENSSL_info(OPENSSL_INFO_MODULES_DIR))};
    }
    if (OSSL_PROVIDER_available(nullptr, "fips") != 1 ||
        EVP_default_properties_enable_fips(nullptr, 1) != 1) {
        return Error{"fips = true but the FIPS provider is not usable: " + take_openssl_errors()};
    }
    ProviderPtr base(OSSL_PROVIDER_load(nullptr, "base"));
    if (!base) {
        Error error{"fips = true but OpenSSL's base provider cannot be loaded: " +
                    take_openssl_errors()};
        EVP_default_properties_enable_fips(nullptr, 0);
        return error;
    }
    return FipsProviders{std::move(fips), std::move(base)};
}

} // namespace tlsgate::tls
