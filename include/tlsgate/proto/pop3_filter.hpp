#pragma once

#include "tlsgate/proto/filter_base.hpp"

#include <string>
#include <string_view>

namespace tlsgate::proto {

// POP3 (RFC 1939, RFC 2449, RFC 2595, RFC 5034) in front of a plaintext backend: STLS
// answered here, USER/PASS/APOP/AUTH refused before TLS, CAPA rewritten, multi-line
// responses (RETR, TOP, LIST and UIDL without argument, CAPA, AUTH without argument) tracked
// per pipelined command so that only CAPA's lines are ever rewritten.
//
// Before TLS under starttls_policy "encrypt" the commands served are CAPA, NOOP, QUIT and
// STLS.
class Pop3Filter final : public FilterBase {
public:
    explicit Pop3Filter(const FilterSettings& settings);

    static constexpr size_t kMaxCommandLine = 255; // RFC 2449, CRLF included
    // SASL client responses (RFC 5034) are not commands; bounded like SMTP's (RFC 4954).
    static constexpr size_t kMaxSaslLine = 12288;

private:
    enum Kind { k_single, k_multi, k_capa, k_pass, k_auth };
    enum class Mode { command, exchange };

    void process_client(Actions& out) override;
    void process_backend(Actions& out) override;
    void after_tls(Actions& out) override;
    bool can_step_aside() const override;

    void handle_command(std::string_view content, Actions& out);
    // `line` is a whole line or the first fragment of an overlong one.
    void handle_backend_line(std::string_view line, bool whole, Actions& out);
    void handle_capa_line(std::string_view line, Actions& out);

    Mode mode_ = Mode::command;
    unsigned conts_ = 0;           // AUTH exchange: "+" lines not yet answered
    bool in_multi_ = false;        // inside a multi-line response
    bool multi_capa_ = false;      // ... and it is CAPA's
    bool overlong_status_ = false; // an overlong status line completes at its end
};

} // namespace tlsgate::proto
