#pragma once

#include "tlsgate/core/result.hpp"

#include <memory>
#include <openssl/provider.h>
#include <string>

namespace tlsgate::tls {

struct ProviderDeleter {
    void operator()(OSSL_PROVIDER* provider) const { OSSL_PROVIDER_unload(provider); }
};
using ProviderPtr = std::unique_ptr<OSSL_PROVIDER, ProviderDeleter>;

// Keep both for as long as TLS is used (unloading them would take the algorithms away from
// every context).
struct FipsProviders {
    ProviderPtr provider;
    ProviderPtr base; // encoders/decoders (PEM files), which the FIPS provider has not
};

// global.fips: loads OpenSSL's FIPS provider and makes "fips=yes" the default property, so
// every algorithm a context fetches afterwards comes from it. Call before building any
// SSL_CTX. An error when the provider is not installed or fails its self tests (Debian 12
// ships no FIPS provider: it needs an OpenSSL built with enable-fips and `openssl fipsinstall`).
Result<FipsProviders> enable_fips();

} // namespace tlsgate::tls
