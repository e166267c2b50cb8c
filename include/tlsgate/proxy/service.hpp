#pragma once

#include "tlsgate/config/model.hpp"
#include "tlsgate/tls/openssl_ptr.hpp"

#include <atomic>
#include <cstdint>
#include <memory>

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
};

// One configured service at run time: its settings and its TLS context, read-only and
// shared by every worker; only the counters change. A reload builds new Service objects;
// sessions keep the one they started with.
struct Service {
    // `counters` may be shared with the same-named service of the previous configuration, so
    // totals survive a reload (the `active` gauge then counts sessions of both generations).
    explicit Service(
        std::shared_ptr<ServiceCounters> shared_counters = std::make_shared<ServiceCounters>())
        : counters_owner(std::move(shared_counters)), counters(*counters_owner) {}
    Service(const Service&) = delete;
    Service& operator=(const Service&) = delete;

    config::Service settings;
    tls::SslCtxPtr server_context; // TLS toward clients; null in client mode
    tls::SslCtxPtr client_context; // client mode: TLS toward the backend
    std::shared_ptr<ServiceCounters> counters_owner;
    ServiceCounters& counters;
};

} // namespace tlsgate::proxy
