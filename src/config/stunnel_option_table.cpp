// The stunnel 5 option names and what tlsgate does with each. A table file.
#include "stunnel_parts.hpp"

namespace tlsgate::config::stunnel_conf {

// Every option of stunnel 5.75's src/options.c (Unix build).
constexpr std::string_view ocsp_advice =
    "OCSP checks of the peer certificate are not implemented; check revocation with CRLfile or "
    "CRLpath (kept fresh by a cron job), or remove the line: the chain and name checks "
    "(verifyChain, checkHost) still apply";
constexpr std::string_view engine_advice =
    "OpenSSL engines (HSM, TPM, PKCS#11) are not used; give the private key as a PEM file "
    "(key = /etc/ssl/private/NAME.key, readable by root or the ssl-cert group only)";
constexpr std::string_view protocol_option_advice =
    "it only serves protocol = connect, socks or cifs, which tlsgate does not speak; remove it";

constexpr OptionSpec option_specs[] = {
    // Global options
    {"chroot", Kind::global},
    {"compression", Kind::global},
    {"fips", Kind::global},
    {"foreground", Kind::global},
    {"log", Kind::global},
    {"output", Kind::global},
    {"pid", Kind::global},
    {"service", Kind::global},
    {"setgid", Kind::global},
    {"setuid", Kind::global},
    {"syslog", Kind::global},
    {"debug", Kind::both},
    // Meaningless here (Windows GUI, entropy sources, thread stacks, OCSP without OCSP)
    {"taskbar", Kind::ignored},
    {"iconActive", Kind::ignored},
    {"iconError", Kind::ignored},
    {"iconIdle", Kind::ignored},
    {"EGD", Kind::ignored},
    {"RNDbytes", Kind::ignored},
    {"RNDfile", Kind::ignored},
    {"RNDoverwrite", Kind::ignored},
    {"stack", Kind::ignored},
    {"TIMEOUTocsp", Kind::ignored},
    // Service options
    {"accept", Kind::service},
    {"CAfile", Kind::service},
    {"CApath", Kind::service},
    {"cert", Kind::service},
    {"checkEmail", Kind::service},
    {"checkHost", Kind::service},
    {"checkIP", Kind::service},
    {"ciphers", Kind::service},
    {"ciphersuites", Kind::service},
    {"client", Kind::service},
    {"connect", Kind::service},
    {"CRLfile", Kind::service},
    {"CRLpath", Kind::service},
    {"curves", Kind::service},
    {"curve", Kind::service}, // the older name of curves, still read by stunnel
    {"delay", Kind::service},
    {"exec", Kind::service},
    {"execArgs", Kind::service},
    {"failover", Kind::service},
    {"key", Kind::service},
    {"local", Kind::service},
    {"options", Kind::service},
    {"protocol", Kind::service},
    {"renegotiation", Kind::service},
    {"requireCert", Kind::service},
    {"reset", Kind::service},
    {"retry", Kind::service},
    {"securityLevel", Kind::service},
    {"sessionCacheSize", Kind::service},
    {"sessionCacheTimeout", Kind::service},
    {"session", Kind::service}, // the older name of sessionCacheTimeout, still read by stunnel
    {"sessionResume", Kind::service},
    {"sni", Kind::service},
    {"socket", Kind::service},
    {"sslVersion", Kind::service},
    {"sslVersionMax", Kind::service},
    {"sslVersionMin", Kind::service},
    {"ticketKeySecret", Kind::service},
    {"ticketMacSecret", Kind::service},
    {"TIMEOUTbusy", Kind::service},
    {"TIMEOUTclose", Kind::service},
    {"TIMEOUTconnect", Kind::service},
    {"TIMEOUTidle", Kind::service},
    {"verify", Kind::service},
    {"verifyChain", Kind::service},
    {"verifyPeer", Kind::service},
    // stunnel features tlsgate does not have, each with what to do instead
    {"engine", Kind::unsupported, engine_advice},
    {"engineCtrl", Kind::unsupported, engine_advice},
    {"engineDefault", Kind::unsupported, engine_advice},
    {"engineId", Kind::unsupported, engine_advice},
    {"engineNum", Kind::unsupported, engine_advice},
    {"provider", Kind::unsupported,
     "tlsgate loads no OpenSSL provider itself; activate it in OpenSSL's configuration file "
     "(openssl.cnf, or the file OPENSSL_CONF names), which OpenSSL reads at start "
     "(fips = yes needs the FIPS provider there)"},
    {"providerParameter", Kind::unsupported,
     "set provider parameters in OpenSSL's configuration file (openssl.cnf, or the file "
     "OPENSSL_CONF names)"},
    {"setEnv", Kind::unsupported,
     "to give exec a variable, exec a wrapper script that sets it (exec = /usr/local/sbin/"
     "wrapper with export NAME=VALUE; exec PROGRAM \"$@\")"},
    {"CAengine", Kind::unsupported,
     "export the CA certificates to a PEM file and set CAfile (or a hashed directory and set "
     "CApath)"},
    {"CAstore", Kind::unsupported,
     "OpenSSL store URIs are not read; use CAfile or CApath (the system store: CApath = "
     "/etc/ssl/certs)"},
    {"config", Kind::unsupported,
     "OpenSSL SSL_CONF commands are not read; use ciphers, ciphersuites, curves, options, "
     "sslVersionMin/sslVersionMax or securityLevel"},
    {"ident", Kind::unsupported,
     "IDENT (RFC 1413) user checks are not implemented; restrict clients with a firewall or "
     "client certificates (verifyChain = yes with CAfile)"},
    {"libwrap", Kind::unsupported,
     "TCP wrappers (/etc/hosts.allow, hosts.deny) are not consulted; restrict clients with a "
     "firewall (nftables) or client certificates, then set libwrap = no or remove the line"},
    {"logId", Kind::unsupported,
     "tlsgate numbers connections itself (sequential per process, in every log line); remove "
     "the line"},
    {"OCSP", Kind::unsupported, ocsp_advice},
    {"OCSPaia", Kind::unsupported, ocsp_advice},
    {"OCSPflag", Kind::unsupported, ocsp_advice},
    {"OCSPnonce", Kind::unsupported, ocsp_advice},
    {"OCSPrequire", Kind::unsupported, ocsp_advice},
    {"protocolAuthentication", Kind::unsupported, protocol_option_advice},
    {"protocolDomain", Kind::unsupported, protocol_option_advice},
    {"protocolHeader", Kind::unsupported, protocol_option_advice},
    {"protocolHost", Kind::unsupported, protocol_option_advice},
    {"protocolPassword", Kind::unsupported, protocol_option_advice},
    {"protocolUsername", Kind::unsupported, protocol_option_advice},
    {"PSKidentity", Kind::unsupported,
     "pre-shared keys are not implemented; use certificates (cert and key here, verifyPeer = "
     "yes with CAfile on the side that checks)"},
    {"PSKsecrets", Kind::unsupported,
     "pre-shared keys are not implemented; use certificates (cert and key here, verifyPeer = "
     "yes with CAfile on the side that checks)"},
    {"pty", Kind::unsupported,
     "exec talks to the program over a socket pair, never a pseudo-terminal; a program that "
     "needs a terminal must be wrapped (script -qc), then remove the line"},
    {"redirect", Kind::unsupported,
     "clients that fail certificate verification are refused, not redirected; serve them on "
     "another service (another accept without verifyChain)"},
    {"sessiond", Kind::unsupported,
     "no external session cache; for resumption across processes or hosts give every one the "
     "same ticketKeySecret and ticketMacSecret"},
    {"transparent", Kind::unsupported,
     "connections to the backend come from tlsgate's address; to pass the client's address "
     "use protocol = proxy (PROXY protocol v1) if the backend reads it (Dovecot: "
     "haproxy_trusted_networks, Postfix: smtpd_upstream_proxy_protocol)"},
};

const OptionSpec* find_spec(std::string_view lowered) {
    for (const auto& s : option_specs) {
        if (lower(s.name) == lowered) {
            return &s;
        }
    }
    return nullptr;
}

bool is_harmless_default(std::string_view name, std::string_view lowered_value) {
    if (name == "libwrap" || name == "pty" || name == "OCSPaia" || name == "OCSPnonce" ||
        name == "OCSPrequire") {
        return lowered_value == "no";
    }
    if (name == "engine") {
        // Only hardware acceleration, which OpenSSL 3 uses by itself.
        return lowered_value == "auto";
    }
    if (name == "transparent") {
        return lowered_value == "none" || lowered_value == "no";
    }
    if (name == "logId") {
        return lowered_value == "sequential";
    }
    return false;
}

std::string unsupported_message(const OptionSpec& spec) {
    return fmt::format("{} is not supported by tlsgate: {}", spec.name, spec.advice);
}

} // namespace tlsgate::config::stunnel_conf
