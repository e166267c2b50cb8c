#pragma once

#include "tlsgate/config/model.hpp"
#include "tlsgate/tls/openssl_ptr.hpp"

#include <string>

namespace tlsgate::test {

// A second throwaway PKI for the TLS tests (files in the unit tests' temporary directory):
// root CA -> intermediate CA -> server leaves (RSA-2048 and ECDSA P-256, "localhost") and
// client leaves (P-256; one revoked), CRLs from both CAs, and self-signed certificates for
// pinning (verify_peer).
struct TlsPki {
    std::string root_cert; // the trust anchor (ca_file)
    std::string rsa_chain; // RSA leaf + intermediate
    std::string rsa_key;
    std::string ec_chain; // ECDSA leaf + intermediate
    std::string ec_key;
    // Client certificate: CN "client", SAN email alice@example.org, IP 192.0.2.7.
    std::string client_chain;
    std::string client_key;
    std::string revoked_chain; // revoked by the intermediate's CRL
    std::string revoked_key;
    std::string crls; // both CAs' CRLs (PEM), the intermediate's listing revoked_chain's leaf
    // Self-signed "localhost" certificates: `pinned` is listed in pins_file, `unpinned` not.
    std::string pinned_cert;
    std::string pinned_key;
    std::string unpinned_cert;
    std::string unpinned_key;
    std::string pins_file; // pinned_cert only
};

const TlsPki& tls_pki(); // made once per test run

// Server settings with the RSA chain and key (section "test.toml" line 3).
config::TlsSettings rsa_server_settings();
// tls::build_server_context, every config error a test failure.
tls::SslCtxPtr build_server_or_fail(const config::TlsSettings& settings,
                                    const std::string& label = "service[t]");

// A ticket key file line: 80 random bytes as 160 hexadecimal digits (openssl rand -hex 80).
std::string random_ticket_key_line();
// Writes the ticket key file `name` anew (a new inode, as `mv` of a fresh file does); its path.
std::string write_ticket_key_file(const std::string& name, const std::string& content);

} // namespace tlsgate::test
