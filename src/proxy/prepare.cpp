#include "tlsgate/proxy/prepare.hpp"

#include "tlsgate/tls/context.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace tlsgate::proxy {
namespace {

std::string describe_service(const Service& service) {
    const config::Service& s = service.settings;
    std::vector<std::string> backend_names;
    for (const auto& backend : s.backends) {
        backend_names.push_back(backend.to_string());
    }
    if (s.exec) {
        backend_names.push_back("exec:" + *s.exec);
    }
    const std::string backends = fmt::format("{}", fmt::join(backend_names, ","));
    std::string certs;
    for (const auto& cert : s.tls.cert) {
        certs += (certs.empty() ? "" : ",") + cert;
    }
    return fmt::format("service {}: {} -> {} mode={} protocol={} tls={} profile={} cert={}{}",
                       s.name, s.inetd ? "inetd" : s.listen.to_string(), backends,
                       s.client ? "client" : "server", config::to_string(s.protocol),
                       config::to_string(s.tls_mode), config::to_string(s.tls.profile),
                       certs.empty() ? "none" : certs,
                       s.client ? fmt::format(" verify={}", config::to_string(s.tls.verify)) : "");
}

} // namespace

Prepared prepare_services(const config::Config& config) {
    Prepared prepared;
    for (const auto& settings : config.services) {
        auto service = std::make_shared<Service>();
        service->settings = settings;
        const std::string prefix = fmt::format("service[{}]", settings.name);
        auto context = settings.client ? tls::build_client_context(settings.tls, prefix)
                                       : tls::build_server_context(settings.tls, prefix);
        prepared.errors.insert(prepared.errors.end(), context.errors.begin(), context.errors.end());
        prepared.warnings.insert(prepared.warnings.end(), context.warnings.begin(),
                                 context.warnings.end());
        (settings.client ? service->client_context : service->server_context) =
            std::move(context.ctx);
        prepared.summaries.push_back(describe_service(*service));
        prepared.services.push_back(std::move(service));
    }
    return prepared;
}

} // namespace tlsgate::proxy
