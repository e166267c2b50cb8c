#include "tlsgate/proxy/prepare.hpp"

#include "tlsgate/net/sockaddr.hpp"
#include "tlsgate/tls/client_hello.hpp"
#include "tlsgate/tls/context.hpp"
#include "tlsgate/tls/fips.hpp"
#include "tlsgate/tls/sni_router.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

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
                       s.name,
                       s.inetd        ? std::string("inetd")
                       : s.sni_parent ? fmt::format("sni {}:{}", *s.sni_parent, *s.sni_pattern)
                                      : s.listen.to_string(),
                       backends, s.client ? "client" : "server", config::to_string(s.protocol),
                       config::to_string(s.tls_mode), config::to_string(s.tls.profile),
                       certs.empty() ? "none" : certs,
                       s.client ? fmt::format(" verify={}", config::to_string(s.tls.verify)) : "");
}

// What a session needs ready-made: socket options parsed, the source address, and with
// resolve_at_start the backends' addresses. Every problem is a config error at its line.
void prepare_runtime(Service& service, std::vector<config::ConfigError>& errors) {
    const config::Service& s = service.settings;
    const std::string prefix = fmt::format("service[{}]", s.name);
    for (const auto& option : s.socket_options) {
        auto parsed = net::parse_socket_option(option.name, option.value);
        if (!parsed) {
            continue; // reported by config::validate_config when the config was loaded
        }
        service.socket_options.push_back({option.side, std::move(*parsed)});
    }
    if (s.local) {
        net::Address local;
        local.host = *s.local;
        // Not numeric: reported by config::validate_config when the config was loaded.
        service.local = net::numeric_socket_address(local);
    }
    if (s.resolve_at_start) {
        for (const auto& backend : s.backends) {
            std::optional<net::SocketAddress> resolved;
            if (backend.kind == net::Address::Kind::tcp) {
                auto found = net::resolve_blocking(backend);
                if (found) {
                    resolved = *found;
                } else {
                    errors.push_back({s.locate("backend"), prefix + ".backend",
                                      fmt::format("resolve_at_start: {}", found.error().message)});
                }
            }
            service.resolved_backends.push_back(resolved);
        }
    }
    if (s.exec && access(s.exec->c_str(), X_OK) != 0) {
        errors.push_back({s.locate("exec"), prefix + ".exec",
                          fmt::format("{} is not an executable file", *s.exec)});
    }
}

// SNI children hang off their parent: the parent's context gets the servername callback that
// switches to a child's context, and the parent's sessions find the child service by route.
void attach_sni_children(std::vector<std::shared_ptr<Service>>& services) {
    for (const auto& child : services) {
        const config::Service& s = child->settings;
        if (!s.sni_parent || !s.sni_pattern) {
            continue;
        }
        auto parent = std::find_if(services.begin(), services.end(), [&](const auto& candidate) {
            return candidate->settings.name == *s.sni_parent;
        });
        // A parent that is missing, itself, itself a child, or not both ends in server mode
        // with implicit TLS was reported by config::validate_config when the config was
        // loaded. Never linked: a parent that holds itself (or its own parent) is a cycle of
        // shared_ptrs that is never freed (--check prepares even a model with errors).
        if (parent == services.end() || *parent == child || (*parent)->settings.sni_parent) {
            continue;
        }
        const config::Service& p = (*parent)->settings;
        if (s.client || p.client || s.tls_mode != config::TlsMode::implicit ||
            p.tls_mode != config::TlsMode::implicit) {
            continue;
        }
        (*parent)->sni_children.push_back(child);
    }
    for (const auto& parent : services) {
        if (parent->sni_children.empty() || !parent->server_context) {
            continue;
        }
        std::vector<tls::SniRouter::Route> routes;
        for (const auto& child : parent->sni_children) {
            routes.push_back({*child->settings.sni_pattern, child->server_context});
        }
        auto router = std::make_shared<tls::SniRouter>(std::move(routes));
        router->install(parent->server_context.get());
        parent->sni_router = router;
    }
}

// The ALPN name of a mail protocol (IANA's registry); null for raw, which may carry anything.
const char* alpn_name(config::Protocol protocol) {
    switch (protocol) {
    case config::Protocol::imap:
        return "imap";
    case config::Protocol::pop3:
        return "pop3";
    case config::Protocol::smtp:
        return "smtp";
    case config::Protocol::raw:
        return nullptr;
    }
    return nullptr;
}

// What a server context checks in each ClientHello beyond the TLS settings: the mail
// protocol's ALPN (ALPACA: a client that asks for another protocol is refused) and
// strict_sni.
void apply_hello_policy(const config::Service& s, SSL_CTX* ctx) {
    if (const char* alpn = alpn_name(s.protocol)) {
        tls::require_alpn(ctx, alpn);
    }
    if (s.strict_sni) {
        tls::require_known_server_names(ctx);
    }
}

} // namespace

Prepared prepare_services(const config::Config& config) {
    Prepared prepared;
    // Before any context: the FIPS provider changes what every SSL_CTX_new fetches.
    if (config.global.fips) {
        auto fips = tls::enable_fips();
        if (!fips) {
            const auto it = config.global.where.find("fips");
            prepared.errors.push_back(config::ConfigError{
                it != config.global.where.end() ? it->second
                                                : config::Location{config.source_file, 0},
                "global.fips", fips.error().message});
            return prepared; // every context would fail for the same reason
        }
        prepared.fips = std::make_shared<tls::FipsProviders>(std::move(fips).value());
    }
    for (const auto& settings : config.services) {
        auto service = std::make_shared<Service>();
        service->settings = settings;
        const std::string prefix = fmt::format("service[{}]", settings.name);
        auto context = settings.client ? tls::build_client_context(settings.tls, prefix)
                                       : tls::build_server_context(settings.tls, prefix);
        for (auto& error : context.errors) {
            // A file in [tls] that every service inherits (say an unreadable certificate) is
            // one problem at one line: reported once, for the first service.
            const bool known = std::any_of(
                prepared.errors.begin(), prepared.errors.end(), [&](const config::ConfigError& e) {
                    return e.where.file == error.where.file && e.where.line == error.where.line &&
                           e.message == error.message;
                });
            if (!known) {
                prepared.errors.push_back(std::move(error));
            }
        }
        prepared.warnings.insert(prepared.warnings.end(), context.warnings.begin(),
                                 context.warnings.end());
        if (!settings.client && context.ctx) {
            apply_hello_policy(settings, context.ctx.get());
        }
        if (context.ctx) {
            service->certificates = tls::served_certificates(context.ctx.get());
        }
        (settings.client ? service->client_context : service->server_context) =
            std::move(context.ctx);
        prepare_runtime(*service, prepared.errors);
        prepared.summaries.push_back(describe_service(*service));
        prepared.services.push_back(std::move(service));
    }
    attach_sni_children(prepared.services);
    auto dated = certificate_warnings(prepared.services, config.global.cert_expiry_warning,
                                      std::time(nullptr));
    prepared.warnings.insert(prepared.warnings.end(), dated.begin(), dated.end());
    return prepared;
}

std::vector<config::ConfigError>
certificate_warnings(const std::vector<std::shared_ptr<Service>>& services,
                     config::Duration warn_within, std::time_t now) {
    std::vector<config::ConfigError> warnings;
    const auto within = std::chrono::duration_cast<std::chrono::seconds>(warn_within);
    for (const auto& service : services) {
        const auto& s = service->settings;
        for (auto& problem : tls::validity_problems(service->certificates, within, now)) {
            warnings.push_back(config::ConfigError{
                s.tls.locate("cert"), fmt::format("service[{}].cert", s.name), std::move(problem)});
        }
    }
    return warnings;
}

} // namespace tlsgate::proxy
