#include "tlsgate/tls/certificate_dates.hpp"

#include <fmt/format.h>
#include <openssl/asn1.h>
#include <openssl/x509.h>

namespace tlsgate::tls {
namespace {

std::time_t to_time(const ASN1_TIME* time) {
    std::tm tm{};
    if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) {
        return 0;
    }
    return timegm(&tm);
}

std::string utc_text(std::time_t t) {
    std::tm tm{};
    gmtime_r(&t, &tm);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &tm);
    return text;
}

} // namespace

std::vector<CertificateDates> served_certificates(SSL_CTX* ctx) {
    std::vector<CertificateDates> out;
    for (int ok = SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_FIRST); ok == 1;
         ok = SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_NEXT)) {
        X509* cert = SSL_CTX_get0_certificate(ctx);
        if (cert == nullptr) {
            continue;
        }
        char subject[256];
        X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof subject);
        out.push_back(CertificateDates{subject, to_time(X509_get0_notBefore(cert)),
                                       to_time(X509_get0_notAfter(cert))});
    }
    SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_FIRST);
    return out;
}

std::vector<std::string> validity_problems(const std::vector<CertificateDates>& certificates,
                                           std::chrono::seconds warn_within, std::time_t now) {
    constexpr std::time_t kDay = 24 * 60 * 60;
    std::vector<std::string> out;
    for (const auto& c : certificates) {
        if (c.not_after < now) {
            out.push_back(fmt::format("certificate {} has expired (not after {})", c.subject,
                                      utc_text(c.not_after)));
        } else if (c.not_before > now) {
            out.push_back(fmt::format("certificate {} is not valid before {}", c.subject,
                                      utc_text(c.not_before)));
        } else if (c.not_after - now < warn_within.count()) {
            const std::time_t days = (c.not_after - now) / kDay;
            out.push_back(fmt::format("certificate {} expires in {} day{} ({})", c.subject, days,
                                      days == 1 ? "" : "s", utc_text(c.not_after)));
        }
    }
    return out;
}

} // namespace tlsgate::tls
