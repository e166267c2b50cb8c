#include "tlsgate/tls/ssl_options.hpp"

#include <openssl/ssl.h>

namespace tlsgate::tls {
namespace {

// The names stunnel 5.68 accepts that OpenSSL 3.0 still defines. Bug workarounds that OpenSSL
// turned into no-ops (e.g. MICROSOFT_SESS_ID_BUG) are absent: naming one is a config error
// rather than a switch that silently does nothing.
#define TLSGATE_OPTION(NAME)                                                                       \
    { #NAME, SSL_OP_##NAME }
constexpr SslOptionName kNames[] = {
    TLSGATE_OPTION(ALL),
    TLSGATE_OPTION(ALLOW_CLIENT_RENEGOTIATION),
    TLSGATE_OPTION(ALLOW_NO_DHE_KEX),
    TLSGATE_OPTION(ALLOW_UNSAFE_LEGACY_RENEGOTIATION),
    TLSGATE_OPTION(CIPHER_SERVER_PREFERENCE),
    TLSGATE_OPTION(CISCO_ANYCONNECT),
    TLSGATE_OPTION(CLEANSE_PLAINTEXT),
    TLSGATE_OPTION(COOKIE_EXCHANGE),
    TLSGATE_OPTION(CRYPTOPRO_TLSEXT_BUG),
    TLSGATE_OPTION(DISABLE_TLSEXT_CA_NAMES),
    TLSGATE_OPTION(DONT_INSERT_EMPTY_FRAGMENTS),
    TLSGATE_OPTION(ENABLE_KTLS),
    TLSGATE_OPTION(ENABLE_MIDDLEBOX_COMPAT),
    TLSGATE_OPTION(IGNORE_UNEXPECTED_EOF),
    TLSGATE_OPTION(LEGACY_SERVER_CONNECT),
    TLSGATE_OPTION(NO_ANTI_REPLAY),
    TLSGATE_OPTION(NO_COMPRESSION),
    TLSGATE_OPTION(NO_ENCRYPT_THEN_MAC),
    TLSGATE_OPTION(NO_EXTENDED_MASTER_SECRET),
    TLSGATE_OPTION(NO_QUERY_MTU),
    TLSGATE_OPTION(NO_RENEGOTIATION),
    TLSGATE_OPTION(NO_SESSION_RESUMPTION_ON_RENEGOTIATION),
    TLSGATE_OPTION(NO_SSLv2),
    TLSGATE_OPTION(NO_SSLv3),
    TLSGATE_OPTION(NO_TICKET),
    TLSGATE_OPTION(NO_TLSv1),
    TLSGATE_OPTION(NO_TLSv1_1),
    TLSGATE_OPTION(NO_TLSv1_2),
    TLSGATE_OPTION(NO_TLSv1_3),
    TLSGATE_OPTION(PRIORITIZE_CHACHA),
    TLSGATE_OPTION(SAFARI_ECDHE_ECDSA_BUG),
    TLSGATE_OPTION(SINGLE_DH_USE),
    TLSGATE_OPTION(SINGLE_ECDH_USE),
    TLSGATE_OPTION(TLSEXT_PADDING),
    TLSGATE_OPTION(TLS_ROLLBACK_BUG),
};
#undef TLSGATE_OPTION

} // namespace

std::span<const SslOptionName> ssl_option_names() {
    return kNames;
}

std::optional<uint64_t> find_ssl_option(std::string_view name) {
    for (const auto& option : kNames) {
        if (option.name == name) {
            return option.value;
        }
    }
    return std::nullopt;
}

} // namespace tlsgate::tls
