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
};

// One configured service at run time: its settings and its TLS context, read-only and
// shared by every worker; only the counters change.
struct Service {
    config::Service settings;
    tls::SslCtxPtr server_context; // null for a plaintext-only listener
    ServiceCounters counters;
};

} // namespace tlsgate::proxy
