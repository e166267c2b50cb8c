// The stunnel 5 option names and what tlsgate does with each. A table file.
#include "stunnel_parts.hpp"

namespace tlsgate::config::stunnel_conf {

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
    // Meaningless here (Windows GUI, entropy sources, engines, thread stacks)
    {"taskbar", Kind::ignored},
    {"iconActive", Kind::ignored},
    {"iconError", Kind::ignored},
    {"iconIdle", Kind::ignored},
    {"EGD", Kind::ignored},
    {"RNDbytes", Kind::ignored},
    {"RNDfile", Kind::ignored},
    {"RNDoverwrite", Kind::ignored},
    {"engine", Kind::ignored},
    {"engineCtrl", Kind::ignored},
    {"engineDefault", Kind::ignored},
    {"engineId", Kind::ignored},
    {"engineNum", Kind::ignored},
    {"stack", Kind::ignored},
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
    // stunnel features tlsgate does not have
    {"CAengine", Kind::unsupported},
    {"config", Kind::unsupported},
    {"ident", Kind::unsupported},
    {"libwrap", Kind::unsupported},
    {"logId", Kind::unsupported},
    {"OCSP", Kind::unsupported},
    {"OCSPaia", Kind::unsupported},
    {"OCSPflag", Kind::unsupported},
    {"OCSPnonce", Kind::unsupported},
    {"OCSPrequire", Kind::unsupported},
    {"protocolAuthentication", Kind::unsupported},
    {"protocolDomain", Kind::unsupported},
    {"protocolHeader", Kind::unsupported},
    {"protocolHost", Kind::unsupported},
    {"protocolPassword", Kind::unsupported},
    {"protocolUsername", Kind::unsupported},
    {"PSKidentity", Kind::unsupported},
    {"PSKsecrets", Kind::unsupported},
    {"pty", Kind::unsupported},
    {"redirect", Kind::unsupported},
    {"sessiond", Kind::unsupported},
    {"transparent", Kind::unsupported},
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
    if (name == "libwrap" || name == "pty" || name == "OCSPaia" || name == "OCSPnonce") {
        return lowered_value == "no";
    }
    if (name == "transparent") {
        return lowered_value == "none" || lowered_value == "no";
    }
    if (name == "logId") {
        return lowered_value == "sequential";
    }
    return false;
}

} // namespace tlsgate::config::stunnel_conf
