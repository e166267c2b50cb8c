#pragma once

#include "tlsgate/proto/client_prelude.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tlsgate::proto {

// What the three client preludes share: bounded line splitting of the server's bytes, the
// go-ahead / fallback / failure transitions, discarding of bytes injected after the go-ahead
// and the failure reply. A protocol sees one complete server line at a time.
class ClientPreludeBase : public ClientPrelude {
public:
    // One server line, CRLF included.
    static constexpr size_t kMaxLine = 8192;
    // Everything the server may send during the prelude up to its go-ahead.
    static constexpr size_t kMaxPrelude = 65536;
    // Bound of the reason text in failure_reply() and close_reason.
    static constexpr size_t kMaxReason = 200;

    void on_backend_data(std::string_view bytes, Actions& out) final;
    void on_tls_established(Actions& out) final;
    bool done() const final { return state_ == State::done; }
    std::string failure_reply(std::string_view why) const final;

protected:
    explicit ClientPreludeBase(const ClientPreludeSettings& settings) : settings_(settings) {}

    // One complete line from the server, without its LF and an optional CR before it. Only
    // called while running(); the view is valid for the call only.
    virtual void on_line(std::string_view content, Actions& out) = 0;
    // What the local program sees first once TLS is up (CRLF-terminated).
    virtual std::string greeting_after_tls() const = 0;
    // failure_reply() is prefix + sanitized reason + CRLF.
    virtual std::string_view failure_prefix() const = 0;

    // The prelude failed: the protocol's error to the local program, close, done.
    void fail(Actions& out, std::string_view reason);
    // The server said go ahead with TLS: start_tls; later server bytes are discarded.
    void go_ahead(Actions& out);
    // SMTP under "may": continue in plaintext with `to_client` first; done.
    void fallback(Actions& out, std::string to_client);
    void send(Actions& out, std::string_view command) { out.to_backend += command; }

    bool running() const { return state_ == State::running; }
    const ClientPreludeSettings& settings() const { return settings_; }

private:
    enum class State { running, awaiting_tls, done };

    void discard(uint64_t n, Actions& out, std::string_view after_what);

    ClientPreludeSettings settings_;
    State state_ = State::running;
    bool plaintext_ = false; // done by fallback()
    std::string buf_;        // an incomplete line, at most kMaxLine octets between calls
    size_t consumed_ = 0;    // octets of complete lines handled so far
};

// Printable text for a reply or log line: control characters become spaces, surrounding
// spaces trimmed, at most `max` octets (not cutting a UTF-8 sequence).
std::string sanitize_reason(std::string_view text, size_t max = ClientPreludeBase::kMaxReason);

} // namespace tlsgate::proto
