#pragma once

#include "tlsgate/proto/client_prelude_base.hpp"

#include <string>
#include <string_view>

namespace tlsgate::proto {

// IMAP (RFC 3501, RFC 9051) toward a remote server: greeting "* OK", CAPABILITY unless the
// greeting's [CAPABILITY ...] code already lists STARTTLS, then STARTTLS. A server without
// STARTTLS fails whatever the policy. After TLS the local program sees tlsgate's neutral
// greeting (never the server's plaintext one) and asks for capabilities itself.
class ImapClientPrelude final : public ClientPreludeBase {
public:
    explicit ImapClientPrelude(const ClientPreludeSettings& settings)
        : ClientPreludeBase(settings) {}

    static constexpr std::string_view kCapabilityTag = "A1";
    static constexpr std::string_view kStarttlsTag = "A2";

private:
    enum class Stage { greeting, capability, starttls };

    void on_line(std::string_view content, Actions& out) override;
    std::string greeting_after_tls() const override { return "* OK tlsgate ready\r\n"; }
    std::string_view failure_prefix() const override { return "* BYE [UNAVAILABLE] "; }

    void on_greeting(std::string_view content, Actions& out);
    void on_capability_reply(std::string_view content, Actions& out);
    void on_starttls_reply(std::string_view content, Actions& out);
    void note_capabilities(std::string_view atoms);
    void note_code_capabilities(std::string_view resp_text);
    void ask_starttls(Actions& out);

    Stage stage_ = Stage::greeting;
    bool starttls_ = false;
};

} // namespace tlsgate::proto
