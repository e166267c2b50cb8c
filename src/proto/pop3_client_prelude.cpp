#include "tlsgate/proto/pop3_client_prelude.hpp"

#include "tlsgate/proto/line_buffer.hpp"

#include <fmt/format.h>

namespace tlsgate::proto {

void Pop3ClientPrelude::on_line(std::string_view content, Actions& out) {
    std::string_view status = split_first_word(content).first;
    bool ok = iequals(status, "+OK");
    bool err = iequals(status, "-ERR");
    switch (stage_) {
    case Stage::greeting:
        if (!ok) {
            fail(out, fmt::format("unexpected greeting: {}", content));
            return;
        }
        send(out, "CAPA\r\n");
        stage_ = Stage::capa_status;
        return;
    case Stage::capa_status:
        if (err) {
            fail(out, "server offers no STARTTLS"); // no CAPA, so no STLS (RFC 2595)
            return;
        }
        if (!ok) {
            fail(out, fmt::format("unexpected server response: {}", content));
            return;
        }
        stage_ = Stage::capa_lines;
        return;
    case Stage::capa_lines:
        if (content == ".") {
            if (!stls_) {
                fail(out, "server offers no STARTTLS");
                return;
            }
            send(out, "STLS\r\n");
            stage_ = Stage::stls;
            return;
        }
        if (!content.empty() && content.front() == '.') {
            content.remove_prefix(1); // dot-stuffing
        }
        if (iequals(split_first_word(content).first, "STLS")) {
            stls_ = true;
        }
        return;
    case Stage::stls:
        if (ok) {
            go_ahead(out);
            return;
        }
        if (err) {
            fail(out, fmt::format("STARTTLS refused: {}", content));
            return;
        }
        fail(out, fmt::format("unexpected server response: {}", content));
        return;
    }
}

} // namespace tlsgate::proto
