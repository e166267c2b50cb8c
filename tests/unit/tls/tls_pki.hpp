#pragma once

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

} // namespace tlsgate::test
