#include "tlsgate/tls/context.hpp"

#include "tlsgate/core/result.hpp"
#include "tlsgate/tls/client_hello.hpp"
#include "tlsgate/tls/context_data.hpp"
#include "tlsgate/tls/peer_checks.hpp"
#include "tlsgate/tls/ssl_options.hpp"
#include "tlsgate/tls/ticket_keys.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fmt/format.h>
#include <functional>
#include <openssl/comp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>
#include <set>

namespace tlsgate::tls {
namespace {

using config::ConfigError;
using config::TlsProfile;

// Never prompt on a terminal for a passphrase: an encrypted key is a config error.
int refuse_passphrase(char*, int, int, void*) {
    return -1;
}

struct CertificateFile {
    std::vector<X509Ptr> chain; // leaf first
};

Result<CertificateFile> read_certificates(const std::string& path) {
    BioPtr bio(BIO_new_file(path.c_str(), "r"));
    if (!bio) {
        Error error{fmt::format("cannot read certificate file {}: {}", path, std::strerror(errno))};
        ERR_clear_error();
        return error;
    }
    CertificateFile file;
    while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, refuse_passphrase, nullptr)) {
        file.chain.emplace_back(cert);
    }
    // Reaching the end of the file after at least one certificate is the normal way out.
    const unsigned long last = ERR_peek_last_error();
    if (!file.chain.empty() && ERR_GET_REASON(last) == PEM_R_NO_START_LINE) {
        ERR_clear_error();
    }
    if (file.chain.empty()) {
        ERR_clear_error();
        return Error{fmt::format("no PEM certificate found in {}", path)};
    }
    const std::string rest = take_openssl_errors();
    if (!rest.empty()) {
        return Error{fmt::format("bad PEM data in {}: {}", path, rest)};
    }
    return file;
}

Result<EvpPkeyPtr> read_private_key(const std::string& path) {
    BioPtr bio(BIO_new_file(path.c_str(), "r"));
    if (!bio) {
        Error error{fmt::format("cannot read key file {}: {}", path, std::strerror(errno))};
        ERR_clear_error();
        return error;
    }
    EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, refuse_passphrase, nullptr));
    if (!key) {
        const std::string why = take_openssl_errors();
        return Error{fmt::format(
            "no usable private key in {} (encrypted keys are not supported): {}", path, why)};
    }
    return key;
}

// DH parameters of a named group (RFC 7919), made without any prime search.
EvpPkeyPtr named_dh_group(const char* name) {
    EVP_PKEY_CTX* pctx = EVP_PKEY_CTX_new_from_name(nullptr, "DH", nullptr);
    EVP_PKEY* params = nullptr;
    if (pctx != nullptr && EVP_PKEY_paramgen_init(pctx) == 1 &&
        EVP_PKEY_CTX_set_group_name(pctx, name) == 1) {
        EVP_PKEY_paramgen(pctx, &params);
    }
    EVP_PKEY_CTX_free(pctx);
    return EvpPkeyPtr(params);
}

std::string subject_of(X509* cert) {
    char buffer[256];
    X509_NAME_oneline(X509_get_subject_name(cert), buffer, sizeof buffer);
    return buffer;
}

// The DNS names a certificate is for: its subjectAltName DNS entries, or without any, its
// subject's common name (as sni_matches patterns: "*.example.org" stays a wildcard).
std::vector<std::string> dns_names_of(X509* cert) {
    std::vector<std::string> names;
    auto* sans =
        static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
        const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans, i);
        if (name->type == GEN_DNS) {
            const ASN1_IA5STRING* dns = name->d.dNSName;
            names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                               static_cast<size_t>(ASN1_STRING_length(dns)));
        }
    }
    GENERAL_NAMES_free(sans);
    if (names.empty()) {
        char common_name[256];
        if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, common_name,
                                      sizeof common_name) > 0) {
            names.emplace_back(common_name);
        }
    }
    return names;
}

} // namespace

Policy resolve_policy(const config::TlsSettings& settings) {
    Policy policy;
    switch (settings.profile) {
    case TlsProfile::bettercrypto_b:
        policy.ciphers = kCipherStringB;
        policy.min_version = TLS1_2_VERSION;
        break;
    case TlsProfile::bettercrypto_a:
        policy.ciphers = kCipherStringA;
        policy.min_version = TLS1_2_VERSION;
        break;
    case TlsProfile::opportunistic:
        policy.ciphers = kCipherStringOpportunistic;
        policy.min_version = TLS1_VERSION;
        break;
    case TlsProfile::custom:
        policy.min_version = TLS1_2_VERSION;
        break;
    }
    if (settings.ciphers) {
        policy.ciphers = *settings.ciphers;
    }
    if (settings.ciphersuites) {
        policy.ciphersuites = *settings.ciphersuites;
    }
    if (settings.min_version != 0) {
        policy.min_version = settings.min_version;
    }
    policy.max_version = settings.max_version; // 0: the highest OpenSSL supports
    policy.groups = settings.groups.value_or(kDefaultGroups);
    return policy;
}

namespace {

// The switches the config may turn on or off past the hardened defaults: renegotiation,
// compression, "options", security_level. Applied after the cipher list, whose @SECLEVEL an
// explicit security_level overrides.
void apply_switches(SSL_CTX* ctx, const config::TlsSettings& settings, const ContextFail& fail) {
    if (settings.renegotiation) {
        // Client-initiated renegotiation for TLS <= 1.2 (TLS 1.3 has none).
        SSL_CTX_clear_options(ctx, SSL_OP_NO_RENEGOTIATION);
        SSL_CTX_set_options(ctx, SSL_OP_ALLOW_CLIENT_RENEGOTIATION);
    }
    if (settings.compression) {
        SSL_CTX_clear_options(ctx, SSL_OP_NO_COMPRESSION);
    }
    const auto unknown = [&](const std::string& name) {
        std::string known;
        for (const auto& option : ssl_option_names()) {
            known += (known.empty() ? "" : ", ") + std::string(option.name);
        }
        fail("options", fmt::format("unknown SSL option \"{}\" (known: {})", name, known));
    };
    for (const auto& name : settings.options_set) {
        if (auto value = find_ssl_option(name)) {
            SSL_CTX_set_options(ctx, *value);
        } else {
            unknown(name);
        }
    }
    for (const auto& name : settings.options_clear) {
        if (auto value = find_ssl_option(name)) {
            SSL_CTX_clear_options(ctx, *value);
        } else {
            unknown(name);
        }
    }
    if (settings.security_level) {
        SSL_CTX_set_security_level(ctx, *settings.security_level);
    }
    if ((SSL_CTX_get_options(ctx) & SSL_OP_NO_COMPRESSION) == 0) {
        // OpenSSL drops compression silently when it cannot do it; say so instead.
        const STACK_OF(SSL_COMP)* methods = SSL_COMP_get_compression_methods();
        const char* key = settings.compression ? "compression" : "options";
        if (methods == nullptr || sk_SSL_COMP_num(methods) == 0) {
            fail(key, "TLS compression was asked for, but this OpenSSL has no compression "
                      "method (it was built without zlib)");
        } else if (SSL_CTX_get_security_level(ctx) >= 2) {
            fail(key, "TLS compression was asked for, but OpenSSL refuses it at security level "
                      "2 and above; set security_level = 1 or lower");
        }
    }
}

// Everything both sides share: versions, cipher lists, groups, and the hardening options.
void apply_policy(SSL_CTX* ctx, const config::TlsSettings& settings, const ContextFail& fail) {
    const Policy policy = resolve_policy(settings);
    // The hardening the Applied Crypto Hardening guide asks of every endpoint, said explicitly
    // even where OpenSSL 3 already defaults to it.
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_SINGLE_DH_USE | SSL_OP_SINGLE_ECDH_USE);
    SSL_CTX_clear_options(ctx, SSL_OP_ALLOW_CLIENT_RENEGOTIATION | SSL_OP_LEGACY_SERVER_CONNECT);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_default_passwd_cb(ctx, refuse_passphrase);
    if (SSL_CTX_set_min_proto_version(ctx, policy.min_version) != 1) {
        fail("min_version", "unsupported minimum TLS version: " + take_openssl_errors());
    }
    if (SSL_CTX_set_max_proto_version(ctx, policy.max_version) != 1) {
        fail("max_version", "unsupported maximum TLS version: " + take_openssl_errors());
    }
    if (!policy.ciphers.empty() && SSL_CTX_set_cipher_list(ctx, policy.ciphers.c_str()) != 1) {
        fail("ciphers",
             fmt::format("no usable cipher in \"{}\": {}", policy.ciphers, take_openssl_errors()));
    }
    if (!policy.ciphersuites.empty() &&
        SSL_CTX_set_ciphersuites(ctx, policy.ciphersuites.c_str()) != 1) {
        fail("ciphersuites", fmt::format("no usable TLS 1.3 suite in \"{}\": {}",
                                         policy.ciphersuites, take_openssl_errors()));
    }
    if (SSL_CTX_set1_groups_list(ctx, policy.groups.c_str()) != 1) {
        fail("groups",
             fmt::format("unknown group in \"{}\": {}", policy.groups, take_openssl_errors()));
    }
    apply_switches(ctx, settings, fail);
}

// Certificates (whole chain, order checked) and their keys (matching).
void load_certificates(SSL_CTX* ctx, const config::TlsSettings& settings, const ContextFail& fail) {
    // A cert/key count mismatch is refused by the loaders (one message, where the keys are).
    std::set<int> key_types; // OpenSSL keeps one certificate per key type
    for (size_t i = 0; i < settings.cert.size() && i < settings.key.size(); ++i) {
        auto certs = read_certificates(settings.cert[i]);
        if (!certs) {
            fail("cert", certs.error().message);
            continue;
        }
        X509* leaf = certs->chain.front().get();
        bool chain_ok = true;
        for (size_t c = 0; c + 1 < certs->chain.size(); ++c) {
            if (X509_check_issued(certs->chain[c + 1].get(), certs->chain[c].get()) != X509_V_OK) {
                fail("cert",
                     fmt::format("{}: chain out of order: certificate #{} ({}) did not "
                                 "issue certificate #{} ({}); list the leaf first, then "
                                 "each issuer",
                                 settings.cert[i], c + 2, subject_of(certs->chain[c + 1].get()),
                                 c + 1, subject_of(certs->chain[c].get())));
                chain_ok = false;
                break;
            }
        }
        // Validity dates are checked by the caller (tls::validity_problems), at start and daily.
        auto read_key = read_private_key(settings.key[i]);
        if (!read_key) {
            fail("key", read_key.error().message);
            continue;
        }
        EvpPkeyPtr key = std::move(read_key).value();
        if (X509_check_private_key(leaf, key.get()) != 1) {
            ERR_clear_error();
            fail("key", fmt::format("{} does not match the certificate in {}", settings.key[i],
                                    settings.cert[i]));
            continue;
        }
        if (!chain_ok) {
            continue;
        }
        if (!key_types.insert(EVP_PKEY_get_base_id(key.get())).second) {
            fail("cert", fmt::format("{}: a second certificate with a {} key; give at most one "
                                     "certificate per key type (e.g. one RSA and one ECDSA)",
                                     settings.cert[i], EVP_PKEY_get0_type_name(key.get())));
            continue;
        }
        if (SSL_CTX_use_certificate(ctx, leaf) != 1) {
            fail("cert", fmt::format("{}: certificate rejected: {}", settings.cert[i],
                                     take_openssl_errors()));
            continue;
        }
        for (size_t c = 1; c < certs->chain.size(); ++c) {
            // add1 takes its own reference; ours is released with `certs`.
            SSL_CTX_add1_chain_cert(ctx, certs->chain[c].get());
        }
        if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
            fail("key",
                 fmt::format("{}: key rejected: {}", settings.key[i], take_openssl_errors()));
        }
    }
}

// With an ECDSA certificate: TLS 1.3 picks it by the client's signature algorithms whatever the
// cipher list says, but TLS 1.2 needs ECDSA suites in the list, and string B has none.
void warn_if_ecdsa_is_tls13_only(SSL_CTX* ctx, const config::TlsSettings& settings,
                                 const std::string& key_prefix, ContextResult& result) {
    bool has_ecdsa_cert = false;
    for (int ok = SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_FIRST); ok == 1;
         ok = SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_NEXT)) {
        X509* cert = SSL_CTX_get0_certificate(ctx);
        EVP_PKEY* key = cert != nullptr ? X509_get0_pubkey(cert) : nullptr;
        has_ecdsa_cert =
            has_ecdsa_cert || (key != nullptr && EVP_PKEY_get_base_id(key) == EVP_PKEY_EC);
    }
    SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_FIRST);
    if (!has_ecdsa_cert || resolve_policy(settings).min_version >= TLS1_3_VERSION) {
        return;
    }
    STACK_OF(SSL_CIPHER)* ciphers = SSL_CTX_get_ciphers(ctx);
    for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); ++i) {
        if (SSL_CIPHER_get_auth_nid(sk_SSL_CIPHER_value(ciphers, i)) == NID_auth_ecdsa) {
            return;
        }
    }
    result.warnings.push_back(ConfigError{
        settings.locate("cert"), key_prefix + ".cert",
        "the ECDSA certificate serves TLS 1.3 clients only: the TLS 1.2 cipher list has no "
        "ECDSA suites (cipher string B's \"!ECDSA\" removes them); set ciphers to a list with "
        "ECDSA suites, e.g. \"EECDH+aECDSA+AESGCM:EECDH+aRSA+AESGCM\", to offer it to TLS 1.2 "
        "clients too"});
}

// Sessions are resumed only where they were made under the same peer-certificate rules: a
// session from a service that asked for no client certificate must not open one that
// requires it (OpenSSL checks the session id context on every resumption, ticket or cache;
// an SNI child's is in place before that, see install_client_hello_checks). Derived from
// those rules, not from the service name, so a fleet sharing ticket keys resumes, and so do
// services with the same rules sharing a ticket_key_file.
void set_session_id_context(SSL_CTX* ctx, const config::TlsSettings& s) {
    std::string rules = "tlsgate";
    if (s.request_cert || s.require_cert || s.verify_chain || s.verify_peer) {
        rules += fmt::format(
            "|request={}|require={}|chain={}|peer={}|ca_file={}|ca_path={}|"
            "check_host={}|check_ip={}|check_email={}|crl_file={}|crl_path={}",
            s.request_cert, s.require_cert, s.verify_chain, s.verify_peer, s.ca_file.value_or(""),
            s.ca_path.value_or(""), s.check_host.value_or(""), s.check_ip.value_or(""),
            s.check_email.value_or(""), s.crl_file.value_or(""), s.crl_path.value_or(""));
    }
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(rules.data()), rules.size(), digest);
    static_assert(sizeof digest <= SSL_MAX_SID_CTX_LENGTH);
    SSL_CTX_set_session_id_context(ctx, digest, sizeof digest);
}

// Server-side resumption: session tickets (keys from a file, fixed secrets, or made here and
// rotated) and OpenSSL's session cache for clients that do not take tickets.
void set_up_resumption(SSL_CTX* ctx, const config::TlsSettings& s, const ContextFail& fail) {
    set_session_id_context(ctx, s);
    SSL_CTX_set_session_cache_mode(ctx,
                                   s.session_cache ? SSL_SESS_CACHE_SERVER : SSL_SESS_CACHE_OFF);
    SSL_CTX_sess_set_cache_size(ctx, static_cast<long>(s.session_cache_size));
    // The lifetime of a session, cached or in a ticket.
    const auto seconds =
        std::chrono::duration_cast<std::chrono::seconds>(s.session_cache_timeout).count();
    SSL_CTX_set_timeout(ctx, static_cast<long>(std::max<long long>(seconds, 1)));
    if (!s.tickets) {
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        return;
    }
    std::shared_ptr<TicketKeyStore> store;
    if (s.ticket_key_file) {
        if (auto made = TicketKeyStore::from_file(*s.ticket_key_file)) {
            store = *made;
        } else {
            fail("ticket_key_file", made.error().message);
        }
    } else if (s.ticket_key_secret && s.ticket_mac_secret) {
        if (auto key = ticket_key_from_secrets(*s.ticket_key_secret, *s.ticket_mac_secret)) {
            store = TicketKeyStore::fixed(*key);
        } else {
            fail("ticket_key_secret", key.error().message);
        }
    } else {
        if (auto made = TicketKeyStore::generated(s.ticket_rotation)) {
            store = *made;
        } else {
            fail("tickets", made.error().message);
        }
    }
    if (store) {
        use_ticket_keys(ctx, std::move(store));
    }
}

// Client mode: OpenSSL hands every new session (TLS 1.3: every ticket) to this callback.
int remember_session(SSL* ssl, SSL_SESSION* session) {
    ContextData* data = context_data(SSL_get_SSL_CTX(ssl));
    if (data == nullptr || !data->client_sessions) {
        return 0; // not taken: OpenSSL frees it
    }
    const std::string* sni = connection_sni(ssl);
    data->client_sessions->store(sni != nullptr ? *sni : std::string(), session);
    return 1; // the cache owns this reference now
}

void set_up_client_resumption(SSL_CTX* ctx, const config::TlsSettings& s) {
    if (!s.session_resume) {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        return;
    }
    attach_context_data(ctx).client_sessions = std::make_shared<ClientSessionCache>();
    // No internal store: the one session per service lives in ClientSessionCache.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, remember_session);
}

} // namespace

ContextResult build_server_context(const config::TlsSettings& settings,
                                   const std::string& key_prefix) {
    ContextResult result;
    auto fail = [&](const std::string& key_name, std::string message) {
        result.errors.push_back(ConfigError{settings.locate(key_name), key_prefix + "." + key_name,
                                            std::move(message)});
    };
    SslCtxPtr ctx = make_ctx_ptr(SSL_CTX_new(TLS_server_method()));
    if (!ctx) {
        fail("profile", "cannot create TLS context: " + take_openssl_errors());
        return result;
    }
    SSL_CTX_set_options(ctx.get(), SSL_OP_CIPHER_SERVER_PREFERENCE);
    apply_policy(ctx.get(), settings, fail); // after: "options" may clear server preference
    set_up_resumption(ctx.get(), settings, fail);
    apply_peer_checks(ctx.get(), settings, true, fail);

    if (settings.dhparam) {
        BioPtr bio(BIO_new_file(settings.dhparam->c_str(), "r"));
        EvpPkeyPtr dh(bio ? PEM_read_bio_Parameters(bio.get(), nullptr) : nullptr);
        if (!bio) {
            fail("dhparam",
                 fmt::format("cannot read {}: {}", *settings.dhparam, std::strerror(errno)));
        } else if (!dh) {
            fail("dhparam", fmt::format("no DH parameters in {}: {}", *settings.dhparam,
                                        take_openssl_errors()));
        } else if (EVP_PKEY_get_bits(dh.get()) < 2048) {
            fail("dhparam", fmt::format("DH parameters in {} have {} bits; at least 2048 required",
                                        *settings.dhparam, EVP_PKEY_get_bits(dh.get())));
        } else if (SSL_CTX_set0_tmp_dh_pkey(ctx.get(), dh.get()) == 1) {
            dh.release(); // owned by the context now
        } else {
            fail("dhparam", "cannot use DH parameters: " + take_openssl_errors());
        }
    } else {
        // RFC 7919 ffdhe2048 (OpenSSL's "auto" would pick an RFC 3526 MODP group instead), or
        // the smallest RFC 7919 group a raised security_level accepts (3: 128-bit, 4: 192-bit,
        // 5: 256-bit security).
        const int level = SSL_CTX_get_security_level(ctx.get());
        const char* group = level >= 5   ? "ffdhe8192"
                            : level == 4 ? "ffdhe7680"
                            : level == 3 ? "ffdhe3072"
                                         : "ffdhe2048";
        EvpPkeyPtr dh = named_dh_group(group);
        if (!dh || SSL_CTX_set0_tmp_dh_pkey(ctx.get(), dh.get()) != 1) {
            fail("dhparam",
                 fmt::format("cannot set up the {} group: {}", group, take_openssl_errors()));
        } else {
            dh.release(); // owned by the context now
        }
    }
    load_certificates(ctx.get(), settings, fail);
    warn_if_ecdsa_is_tls13_only(ctx.get(), settings, key_prefix, result);
    install_client_hello_checks(ctx.get());
    ContextData& data = attach_context_data(ctx.get());
    for (int ok = SSL_CTX_set_current_cert(ctx.get(), SSL_CERT_SET_FIRST); ok == 1;
         ok = SSL_CTX_set_current_cert(ctx.get(), SSL_CERT_SET_NEXT)) {
        if (X509* cert = SSL_CTX_get0_certificate(ctx.get())) {
            for (auto& name : dns_names_of(cert)) {
                data.own_names.push_back(std::move(name));
            }
        }
    }
    SSL_CTX_set_current_cert(ctx.get(), SSL_CERT_SET_FIRST);
    if (result.errors.empty()) {
        result.ctx = std::move(ctx);
    }
    return result;
}

ContextResult build_client_context(const config::TlsSettings& settings,
                                   const std::string& key_prefix) {
    ContextResult result;
    auto fail = [&](const std::string& key_name, std::string message) {
        result.errors.push_back(ConfigError{settings.locate(key_name), key_prefix + "." + key_name,
                                            std::move(message)});
    };
    SslCtxPtr ctx = make_ctx_ptr(SSL_CTX_new(TLS_client_method()));
    if (!ctx) {
        fail("profile", "cannot create TLS context: " + take_openssl_errors());
        return result;
    }
    apply_policy(ctx.get(), settings, fail);
    // verify = "peer" with neither check set only happens when the model skipped the loader's
    // finalize_verification; fail closed: check the chain, as verify = "peer" says.
    config::TlsSettings checks = settings;
    if (checks.verify == config::VerifyMode::peer && !checks.verify_chain && !checks.verify_peer) {
        checks.verify_chain = true;
    }
    apply_peer_checks(ctx.get(), checks, false, fail);
    set_up_client_resumption(ctx.get(), settings);
    load_certificates(ctx.get(), settings, fail);
    if (result.errors.empty()) {
        result.ctx = std::move(ctx);
    }
    return result;
}

} // namespace tlsgate::tls
