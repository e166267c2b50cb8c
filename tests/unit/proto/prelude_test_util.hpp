#pragma once

#include "tlsgate/proto/client_prelude.hpp"

#include <functional>
#include <string>
#include <vector>

namespace tlsgate::proto::prelude_test {

// One step of a conversation: bytes from the server, or the handshake completing.
struct Step {
    bool tls = false;
    std::string bytes;
};
inline Step S(std::string b) {
    return {false, std::move(b)};
}
inline Step TLS() {
    return {true, {}};
}

// Everything the prelude produced over a conversation. In client mode the session's backend
// is the remote server and its client the local program (see actions.hpp).
struct Outcome {
    std::string to_backend;
    std::string to_client;
    std::string to_client_before_tls; // what the local program got before the handshake
    int start_tls = 0;
    int plaintext_fallback = 0;
    int close = 0;
    std::string close_reason;
    uint64_t discarded = 0;
    std::vector<LogEvent> log;
    bool done = false;
};

ClientPreludeSettings settings_for(config::Protocol protocol,
                                   config::StarttlsPolicy policy = config::StarttlsPolicy::encrypt,
                                   std::string ehlo_name = "mx.example.org");

using Splitter = std::function<std::vector<std::string>(size_t step, const std::string& bytes)>;

// Feeds the steps as the session would: never once the prelude is done.
Outcome run(const ClientPreludeSettings& settings, const std::vector<Step>& steps,
            const Splitter& split);
std::vector<std::string> whole(size_t, const std::string& b);
std::vector<std::string> bytewise(size_t, const std::string& b);

// Both outcomes made the same actions (the discard warnings, one per call, aside).
void check_same(const Outcome& a, const Outcome& b);

// Runs the conversation in whole chunks, byte by byte, and split in two at every offset of
// every step; checks all give the same actions and returns the whole-chunk outcome.
Outcome run_all(const ClientPreludeSettings& settings, const std::vector<Step>& steps);

bool has_log(const Outcome& r, config::LogLevel level, const std::string& text);

// After TLS the local program gets tlsgate's own greeting, never the server's plaintext one
// (anyone on the path could have written it: [ALERT] text, an APOP timestamp, a banner).
inline const std::string kImapAfterTls = "* OK tlsgate ready\r\n";
inline const std::string kPop3AfterTls = "+OK tlsgate ready\r\n";
inline const std::string kSmtpAfterTls = "220 mx.example.org ESMTP tlsgate ready\r\n";

} // namespace tlsgate::proto::prelude_test
