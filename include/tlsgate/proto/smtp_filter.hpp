#pragma once

#include "tlsgate/proto/filter_base.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tlsgate::proto {

// SMTP (RFC 5321, RFC 3207, RFC 4954, RFC 2920, RFC 3030) in front of a plaintext backend:
// STARTTLS answered here (then RSET to the backend, its reply swallowed, a new EHLO
// required), AUTH refused before TLS and hidden from EHLO, EHLO replies rewritten as they
// stream (at most one line held), DATA bodies and BDAT chunks relayed as data.
//
// DATA bodies are normalised so that the backend ends the message exactly where the filter
// does (SMTP smuggling, CVE-2023-51764): every bare LF and every bare CR becomes CRLF, and a
// line "." that is not "<CRLF>.<CRLF>" in the client's bytes is sent dot-stuffed as "..", so
// only a genuine "<CRLF>.<CRLF>" ends the body in either hop. See process_body().
class SmtpFilter final : public FilterBase {
public:
    explicit SmtpFilter(const FilterSettings& settings);

    static constexpr size_t kMaxCommandLine = 512; // RFC 5321 4.5.3.1.4, CRLF included
    static constexpr size_t kMaxSaslLine = 12288;  // RFC 4954 section 4

private:
    enum Kind { k_normal, k_ehlo, k_data, k_auth, k_internal_rset };
    enum class Mode { command, data_wait, data, bdat, bdat_skip, sasl };
    enum class Body { line_start, mid, cr, dot, dot_cr };

    void process_client(Actions& out) override;
    void process_backend(Actions& out) override;
    void after_tls(Actions& out) override;

    void handle_command(std::string_view content, Actions& out);
    void process_body(Actions& out);
    void handle_backend_line(std::string_view line, bool whole, Actions& out);
    // `text`: an EHLO reply line after its code and separator.
    void ehlo_line(std::string_view text, bool first, bool final, Actions& out);
    void end_of_reply(Actions& out);
    void early_talker(Actions& out);
    void refuse_bdat(Actions& out, uint64_t size, std::string text, std::string_view why);

    Mode mode_ = Mode::command;
    uint64_t chunk_left_ = 0; // BDAT octets still to relay or skip
    unsigned conts_ = 0;      // AUTH exchange: 334 lines not yet answered
    bool need_ehlo_ = false;  // after STARTTLS: a new EHLO/HELO must come first
    bool backend_chunking_ = false;

    // Greeting state (early talkers, see early_talker()).
    bool early_seen_ = false;
    std::string greeting_held_;         // complete greeting lines not yet relayed (reject mode)
    bool greeting_partly_sent_ = false; // the client has seen part of the greeting

    // DATA body state (see process_body()).
    Body body_ = Body::line_start;
    bool prev_crlf_ = true; // the last line of the body ended in a genuine CRLF

    // Backend reply state.
    bool in_reply_ = false;
    std::string reply_code_;
    int reply_kind_ = -1; // kind of the slot the reply belongs to; -1: unsolicited
    bool ehlo_rewrite_ = false;
    std::optional<std::string> ehlo_held_; // last kept EHLO line, sent once the next is known
    bool ehlo_chunking_ = false;
    bool overlong_final_ = false; // an overlong final reply line ends the reply at its LF
};

} // namespace tlsgate::proto
