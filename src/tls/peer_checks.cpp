#include "tlsgate/tls/peer_checks.hpp"

#include "tlsgate/tls/context_data.hpp"
#include "tlsgate/tls/openssl_ptr.hpp"

#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

namespace tlsgate::tls {
namespace {

// Errors that fail the handshake whatever verify_chain says: they are what check_host,
// check_ip, check_email and the CRLs were configured for.
bool always_fatal(int error) {
    return error == X509_V_ERR_HOSTNAME_MISMATCH || error == X509_V_ERR_IP_ADDRESS_MISMATCH ||
           error == X509_V_ERR_EMAIL_MISMATCH || error == X509_V_ERR_CERT_REVOKED;
}

const ContextData* data_of(X509_STORE_CTX* store) {
    const auto* ssl = static_cast<const SSL*>(
        X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
    return ssl != nullptr ? context_data(SSL_get_SSL_CTX(ssl)) : nullptr;
}

// Called by OpenSSL for every problem (and every certificate) while verifying the chain.
int verify_callback(int ok, X509_STORE_CTX* store) {
    if (ok == 1) {
        return 1;
    }
    const ContextData* data = data_of(store);
    if (data == nullptr || data->peer_checks.verify_chain) {
        return 0;
    }
    // No chain check wanted: accept any certificate, but not a wrong name or a revoked one.
    return always_fatal(X509_STORE_CTX_get_error(store)) ? 0 : 1;
}

// Whether `cert` is itself one of the trusted certificates (ca_file, or ca_path by subject).
bool is_trusted_certificate(X509_STORE_CTX* store, X509* cert) {
    X509StackPtr candidates(X509_STORE_CTX_get1_certs(store, X509_get_subject_name(cert)));
    ERR_clear_error(); // "no match" leaves an error behind
    if (!candidates) {
        return false;
    }
    for (int i = 0; i < sk_X509_num(candidates.get()); ++i) {
        if (X509_cmp(sk_X509_value(candidates.get(), i), cert) == 0) {
            return true;
        }
    }
    return false;
}

// verify_peer: the usual verification (with verify_callback), then the pinning check.
int verify_with_pinning(X509_STORE_CTX* store, void*) {
    const int ok = X509_verify_cert(store);
    if (ok <= 0) {
        return ok;
    }
    X509* leaf = X509_STORE_CTX_get0_cert(store);
    if (leaf == nullptr || !is_trusted_certificate(store, leaf)) {
        X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
        return 0;
    }
    // A pinned certificate is trusted as such, whatever the chain said.
    X509_STORE_CTX_set_error(store, X509_V_OK);
    return 1;
}

bool is_directory(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

void load_trust(SSL_CTX* ctx, const config::TlsSettings& s, bool server, const ContextFail& fail) {
    if (s.ca_file || s.ca_path) {
        const char* file = s.ca_file ? s.ca_file->c_str() : nullptr;
        const char* path = s.ca_path ? s.ca_path->c_str() : nullptr;
        if (SSL_CTX_load_verify_locations(ctx, file, path) != 1) {
            fail(s.ca_file ? "ca_file" : "ca_path",
                 fmt::format("cannot load CA certificates from {}: {}",
                             file != nullptr ? file : path, take_openssl_errors()));
        }
        return;
    }
    if (s.verify_peer) {
        fail("verify_peer", "verify_peer needs ca_file or ca_path: the certificates to accept");
    } else if (s.verify_chain && server) {
        fail("verify_chain",
             "verifying client certificates needs ca_file or ca_path (the CAs that issue them)");
    } else if (s.verify_chain && SSL_CTX_set_default_verify_paths(ctx) != 1) {
        fail("verify", "cannot load the system trust store: " + take_openssl_errors());
    }
}

void load_crls(SSL_CTX* ctx, const config::TlsSettings& s, const ContextFail& fail) {
    if (!s.crl_file && !s.crl_path) {
        return;
    }
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    if (s.crl_file) {
        X509_LOOKUP* lookup = X509_STORE_add_lookup(store, X509_LOOKUP_file());
        if (lookup == nullptr ||
            X509_load_crl_file(lookup, s.crl_file->c_str(), X509_FILETYPE_PEM) <= 0) {
            fail("crl_file",
                 fmt::format("cannot load CRLs from {}: {}", *s.crl_file, take_openssl_errors()));
        }
    }
    if (s.crl_path) {
        X509_LOOKUP* lookup = X509_STORE_add_lookup(store, X509_LOOKUP_hash_dir());
        if (!is_directory(*s.crl_path)) {
            fail("crl_path", fmt::format("{} is not a directory", *s.crl_path));
        } else if (lookup == nullptr ||
                   X509_LOOKUP_add_dir(lookup, s.crl_path->c_str(), X509_FILETYPE_PEM) != 1) {
            fail("crl_path", fmt::format("cannot use CRL directory {}: {}", *s.crl_path,
                                         take_openssl_errors()));
        }
    }
    // Every certificate of the chain, not just the leaf.
    X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(ctx),
                                X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
}

void set_names(SSL_CTX* ctx, const config::TlsSettings& s, bool server, const ContextFail& fail) {
    X509_VERIFY_PARAM* param = SSL_CTX_get0_param(ctx);
    if (s.check_ip && X509_VERIFY_PARAM_set1_ip_asc(param, s.check_ip->c_str()) != 1) {
        ERR_clear_error();
        fail("check_ip", fmt::format("\"{}\" is not an IP address", *s.check_ip));
    }
    if (s.check_email && X509_VERIFY_PARAM_set1_email(param, s.check_email->c_str(), 0) != 1) {
        fail("check_email", "cannot use this address: " + take_openssl_errors());
    }
    // Client mode checks the server's name per connection (TlsEngine::set_peer_name). OpenSSL
    // checks one IP: a check_host that is another IP than check_ip could not be enforced too.
    if (!server && s.check_host && s.check_ip) {
        const std::string host_ip = ip_address_bytes(*s.check_host);
        if (!host_ip.empty() && host_ip != ip_address_bytes(*s.check_ip)) {
            fail("check_host",
                 fmt::format("\"{}\" is an IP address other than check_ip \"{}\": a certificate "
                             "is checked against one IP address; keep one of the two",
                             *s.check_host, *s.check_ip));
        }
    }
    if (server && s.check_host &&
        X509_VERIFY_PARAM_set1_host(param, s.check_host->c_str(), 0) != 1) {
        fail("check_host", "cannot use this name: " + take_openssl_errors());
    }
}

// Server mode: the CA names sent with the certificate request, so a client with several
// certificates picks one these CAs issued.
void send_ca_names(SSL_CTX* ctx, const config::TlsSettings& s, const ContextFail& fail) {
    X509NameStackPtr names(sk_X509_NAME_new_null());
    if (!names) {
        fail("ca_file", "out of memory");
        return;
    }
    if (s.ca_file) {
        X509NameStackPtr from_file(SSL_load_client_CA_file(s.ca_file->c_str()));
        for (int i = 0; from_file && i < sk_X509_NAME_num(from_file.get()); ++i) {
            sk_X509_NAME_push(names.get(), X509_NAME_dup(sk_X509_NAME_value(from_file.get(), i)));
        }
    }
    if (s.ca_path && is_directory(*s.ca_path)) {
        SSL_add_dir_cert_subjects_to_stack(names.get(), s.ca_path->c_str());
    }
    ERR_clear_error(); // a directory entry that is not a certificate is no error here
    SSL_CTX_set_client_CA_list(ctx, names.release()); // the context owns the list now
}

} // namespace

std::string ip_address_bytes(const std::string& text) {
    ASN1_OCTET_STRING* ip = a2i_IPADDRESS(text.c_str());
    ERR_clear_error(); // "not an address" leaves an error behind
    if (ip == nullptr) {
        return {};
    }
    std::string bytes(reinterpret_cast<const char*>(ASN1_STRING_get0_data(ip)),
                      static_cast<size_t>(ASN1_STRING_length(ip)));
    ASN1_OCTET_STRING_free(ip);
    return bytes;
}

void apply_peer_checks(SSL_CTX* ctx, const config::TlsSettings& s, bool server,
                       const ContextFail& fail) {
    const bool verify_any = s.verify_chain || s.verify_peer;
    // Client mode: a configured name check is enforced even with verify = "none" (the chain
    // is then not checked, the names are: verify_callback).
    const bool names = s.check_host || s.check_ip || s.check_email;
    const bool ask =
        verify_any || (server && (s.request_cert || s.require_cert)) || (!server && names);
    if (!ask) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
        return;
    }
    load_trust(ctx, s, server, fail);
    load_crls(ctx, s, fail);
    set_names(ctx, s, server, fail);
    if (server) {
        send_ca_names(ctx, s, fail);
    }
    int mode = SSL_VERIFY_PEER;
    if (server && s.require_cert) {
        mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    }
    attach_context_data(ctx).peer_checks = PeerChecks{s.verify_chain, s.verify_peer};
    SSL_CTX_set_verify(ctx, mode, verify_callback);
    if (s.verify_peer) {
        SSL_CTX_set_cert_verify_callback(ctx, verify_with_pinning, nullptr);
    }
}

} // namespace tlsgate::tls
