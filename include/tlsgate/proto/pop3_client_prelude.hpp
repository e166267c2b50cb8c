#pragma once

#include "tlsgate/proto/client_prelude_base.hpp"

#include <string>
#include <string_view>

namespace tlsgate::proto {

// POP3 (RFC 1939, RFC 2449, RFC 2595) toward a remote server: greeting "+OK", CAPA, STLS. A
// server without STLS (or refusing CAPA) fails whatever the policy. After TLS the local
// program sees tlsgate's neutral greeting: no APOP timestamp, since the server's came in
// plaintext and may be forged, so APOP is not available through client-mode STARTTLS.
class Pop3ClientPrelude final : public ClientPreludeBase {
public:
    explicit Pop3ClientPrelude(const ClientPreludeSettings& settings)
        : ClientPreludeBase(settings) {}

private:
    enum class Stage { greeting, capa_status, capa_lines, stls };

    void on_line(std::string_view content, Actions& out) override;
    std::string greeting_after_tls() const override { return "+OK tlsgate ready\r\n"; }
    std::string_view failure_prefix() const override { return "-ERR [SYS/TEMP] "; }

    Stage stage_ = Stage::greeting;
    bool stls_ = false;
};

} // namespace tlsgate::proto
