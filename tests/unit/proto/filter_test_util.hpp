#pragma once

#include "tlsgate/proto/filter.hpp"

#include <memory>
#include <string>
#include <vector>

namespace tlsgate::proto::test {

// One step of a conversation fed to a filter.
struct Step {
    enum class Kind { client, backend, tls };
    Kind kind;
    std::string bytes;
};

inline Step C(std::string b) {
    return {Step::Kind::client, std::move(b)};
}
inline Step B(std::string b) {
    return {Step::Kind::backend, std::move(b)};
}
inline Step TLS() {
    return {Step::Kind::tls, {}};
}

// Everything the filter produced over a conversation.
struct Result {
    std::string to_client;
    std::string to_backend;
    int start_tls = 0;
    bool close = false;
    bool transparent = false;
    bool tls_active = false;
    FilterCounters counters;
    std::vector<LogEvent> log;
};

FilterSettings settings_for(config::Protocol protocol, bool implicit_tls = false,
                            config::StarttlsPolicy policy = config::StarttlsPolicy::encrypt);

// Feeds the steps; `byte_by_byte` splits every step's bytes into one call per byte. Once the
// filter is transparent, bytes are relayed as the session would (without calling it).
Result run(const FilterSettings& settings, const std::vector<Step>& steps,
           bool byte_by_byte = false);

// Runs the conversation in whole chunks and byte by byte, checks both give the same output
// and counters, and returns the chunked result.
Result run_both(const FilterSettings& settings, const std::vector<Step>& steps);

// True when no log message contains `secret`.
bool logs_free_of(const Result& r, const std::string& secret);

} // namespace tlsgate::proto::test
