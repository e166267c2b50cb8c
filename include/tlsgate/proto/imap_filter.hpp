#pragma once

#include "tlsgate/proto/filter_base.hpp"
#include "tlsgate/proto/imap_syntax.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace tlsgate::proto {

// IMAP4rev1/rev2 (RFC 3501, RFC 9051) in front of a plaintext backend: STARTTLS answered
// here (RFC 2595, RFC 9051 section 6.2.1), LOGIN/AUTHENTICATE refused before TLS on the
// command line itself (never a "+" first), capabilities rewritten in CAPABILITY responses and
// [CAPABILITY] response codes, literals ({n}, {n+}, ~{n}) tracked in both directions.
// A client literal reaches the backend only after the backend's own "+" (a LITERAL+ one is
// forwarded as synchronizing), so the filter and the daemon cannot disagree about which
// octets are data: a literal the daemon does not take is dropped, never relayed. A line the
// two could read differently (a brace glued to a token, a malformed literal) is refused.
//
// Before TLS under starttls_policy "encrypt" the commands served are CAPABILITY, NOOP,
// LOGOUT and STARTTLS, as the spec lists them.
class ImapFilter final : public FilterBase {
public:
    explicit ImapFilter(const FilterSettings& settings);

    // Largest literal a client may announce before and after authentication.
    static constexpr uint64_t kMaxLiteralBeforeAuth = 64 * 1024;
    static constexpr uint64_t kMaxLiteralAfterAuth = 64ull * 1024 * 1024;
    // Longest client line inside an AUTHENTICATE exchange (as RFC 4954 allows for SMTP).
    static constexpr size_t kMaxSaslLine = 12288;

private:
    enum Kind { k_normal, k_login };
    enum class Mode {
        command,            // a new tagged command starts here
        continuation,       // rest of a forwarded command after a literal
        literal,            // literal octets of a forwarded command
        await_continuation, // forwarded {n}: hold until the backend's "+" or tagged reply
        skip_literal,       // literal octets of a refused command (LITERAL+): dropped
        skip_continuation,  // rest of a refused command after its literal: dropped
        exchange,           // AUTHENTICATE / IDLE: one client line per backend "+"
    };

    using LiteralSpec = imap_syntax::LiteralSpec;

    void process_client(Actions& out) override;
    void process_backend(Actions& out) override;
    void after_tls(Actions& out) override;
    bool can_step_aside() const override;
    bool backend_mid_line() const override;

    void handle_command(std::string_view content, Actions& out);
    void handle_continuation(std::string_view content, Actions& out);
    // The mode after a command line (or its continuation) that ends with `lit`.
    void enter_mode_after(const LiteralSpec& lit);
    void handle_skipped_continuation(std::string_view content, Actions& out);
    // After a local reply to a command line: a LITERAL+ literal still arrives and is skipped.
    void skip_refused_literal(const LiteralSpec& lit, Actions& out);
    // Announced literal of a forwarded command: size and LITERAL+ support checked.
    bool literal_acceptable(const LiteralSpec& lit) const;
    // The backend ended the current command before taking its announced literal: the octets
    // a LITERAL+ client sent anyway are dropped.
    void literal_refused_by_backend();
    void handle_backend_line(std::string_view line, Actions& out);
    void handle_backend_line_end(std::string_view tail);
    void complete_tagged(std::string_view content, Actions& out);
    std::string rewrite_capability_list(std::string_view caps);
    std::string rewrite_capability_code(std::string_view content);
    bool tag_pending(std::string_view tag) const;

    Mode mode_ = Mode::command;
    uint64_t literal_left_ = 0;
    uint64_t pending_literal_ = 0;     // literal awaiting the backend's "+"
    bool pending_literal_sync_ = true; // ... which the client announced as synchronizing
    std::string cur_tag_;              // command spanning several lines / the exchange
    bool cur_exchange_ = false;        // the current command continues as an exchange
    unsigned conts_ = 0;               // exchange: "+" lines not yet answered by the client
    // Tags of forwarded commands whose tagged reply is owed, with their queue slot: a reply
    // finds its command in O(1) however many are pipelined.
    std::unordered_map<std::string, uint64_t> pending_tags_;
    uint64_t backend_literal_left_ = 0;
    bool backend_after_literal_ = false;         // next backend line continues a response
    std::string backend_tail_;                   // last octets of an overlong backend line
    std::optional<std::string> deferred_tagged_; // overlong tagged line, acted on at its end
};

} // namespace tlsgate::proto
