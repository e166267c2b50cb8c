#pragma once

#include "tlsgate/proto/client_prelude_base.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace tlsgate::proto {

// SMTP (RFC 5321, RFC 3207) toward a remote server: greeting 220 (possibly multi-line), EHLO,
// STARTTLS. Without STARTTLS (or when EHLO is refused with 5xx) starttls_policy "may"
// continues in plaintext, "encrypt" fails. After TLS the local program sees tlsgate's
// neutral "220 <ehlo_name> ESMTP" greeting (the server's came in plaintext) and sends its
// own EHLO. Under "may" without STARTTLS the whole session is plaintext: the server's
// greeting is passed on.
class SmtpClientPrelude final : public ClientPreludeBase {
public:
    explicit SmtpClientPrelude(const ClientPreludeSettings& settings);

private:
    enum class Stage { greeting, ehlo, starttls };

    void on_line(std::string_view content, Actions& out) override;
    std::string greeting_after_tls() const override;
    std::string_view failure_prefix() const override { return "421 4.7.0 "; }

    void on_reply(Actions& out);
    void on_ehlo_reply(Actions& out);
    void no_starttls(Actions& out);

    Stage stage_ = Stage::greeting;
    std::string ehlo_name_;
    std::string greeting_; // all its lines, CRLF-terminated; for the plaintext fallback
    // The reply being read: its code and lines (without CRLF).
    int code_ = 0;
    std::vector<std::string> lines_;
};

} // namespace tlsgate::proto
