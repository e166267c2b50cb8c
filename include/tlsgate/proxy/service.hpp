#pragma once

#include "tlsgate/config/model.hpp"
#include "tlsgate/net/sockaddr.hpp"
#include "tlsgate/net/socket_options.hpp"
#include "tlsgate/tls/certificate_dates.hpp"
#include "tlsgate/tls/openssl_ptr.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace tlsgate::proxy {

// Totals per service, shared by all workers.
struct ServiceCounters {
    std::atomic<uint64_t> accepted{0};
    std::atomic<uint64_t> handshakes_completed{0};
    std::atomic<uint64_t> handshakes_failed{0};
    std::atomic<uint64_t> backend_failures{0};
    std::atomic<uint64_t> active{0};
    // Mail protocol filters (added when a session closes).
    std::atomic<uint64_t> starttls_completed{0};
    std::atomic<uint64_t> auth_refused_before_tls{0};
    std::atomic<uint64_t> commands_refused{0};
    std::atomic<uint64_t> injected_bytes_discarded{0};
    std::atomic<uint64_t> overlong_lines{0};
    std::atomic<uint64_t> early_talkers{0};

    // Adds every total (not the `active` gauge) of `other`.
    void add(const ServiceCounters& other) {
        accepted += other.accepted.load();
        handshakes_completed += other.handshakes_completed.load();
        handshakes_failed += other.handshakes_failed.load();
        backend_failures += other.backend_failures.load();
        starttls_completed += other.starttls_completed.load();
        auth_refused_before_tls += other.auth_refused_before_tls.load();
        commands_refused += other.commands_refused.load();
        injected_bytes_discarded += other.injected_bytes_discarded.load();
        overlong_lines += other.overlong_lines.load();
        early_talkers += other.early_talkers.load();
    }
};

// One configured service at run time: its settings and its TLS context, read-only and
// shared by every worker; only the counters change. A reload builds new Service objects;
// sessions keep the one they started with.
struct Service {
    Service() = default;
    Service(const Service&) = delete;
    Service& operator=(const Service&) = delete;
    // A generation replaced by a reload adds its totals to `earlier_generations` once its last
    // session has ended (its `active` gauge is 0 by then).
    ~Service() {
        if (earlier_generations) {
            earlier_generations->add(counters);
        }
    }

    config::Service settings;
    tls::SslCtxPtr server_context; // TLS toward clients; null in client mode
    tls::SslCtxPtr client_context; // client mode: TLS toward the backend
    // The validity dates of the certificates the contexts serve (checked at start and daily).
    std::vector<tls::CertificateDates> certificates;
    ServiceCounters counters;
    // Shared by every generation of a service name across reloads (set by the reload, before
    // the new generation is published), so totals survive a reload; null until one happens.
    std::shared_ptr<ServiceCounters> earlier_generations;
    // Made by prepare_services from the settings, so a session never parses anything:
    // socket options by side ('a', 'l', 'r'), the "local" source address, and with
    // resolve_at_start the backends' addresses (one per backend; unset for unix sockets).
    struct SideOption {
        char side = 'a';
        net::ParsedSocketOption option;
    };
    std::vector<SideOption> socket_options;
    std::optional<net::SocketAddress> local;
    std::vector<std::optional<net::SocketAddress>> resolved_backends;
    // failover = rr: where the next connection starts (shared by the workers).
    std::atomic<size_t> next_backend{0};
    // SNI children of this service (their settings.sni_parent names it), in config order.
    std::vector<std::shared_ptr<Service>> sni_children;
    std::shared_ptr<void> sni_router; // keeps the servername callback's argument alive

    // Whether this service has a listener of its own (inetd and SNI children do not).
    bool listens() const { return !settings.inetd && !settings.sni_parent; }
    std::vector<net::ParsedSocketOption> options_for(char side) const {
        std::vector<net::ParsedSocketOption> out;
        for (const auto& option : socket_options) {
            if (option.side == side) {
                out.push_back(option.option);
            }
        }
        return out;
    }
};

} // namespace tlsgate::proxy
