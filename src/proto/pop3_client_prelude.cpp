#include "tlsgate/proto/pop3_client_prelude.hpp"

#include "tlsgate/proto/line_buffer.hpp"
#include "tlsgate/proto/pop3_syntax.hpp"

#include <fmt/format.h>

namespace tlsgate::proto {

void Pop3ClientPrelude::on_line(std::string_view content, Actions& out) {
    // Stricter than the server filter's reading: "+OK" and "-ERR" only as a whole word.
    const pop3_syntax::Status status = pop3_syntax::status(content);
    const bool ok = status == pop3_syntax::Status::ok;
    const bool err = status == pop3_syntax::Status::err;
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
        if (pop3_syntax::is_terminator(content)) {
            if (!stls_) {
                fail(out, "server offers no STARTTLS");
                return;
            }
            send(out, "STLS\r\n");
            stage_ = Stage::stls;
            return;
        }
        if (iequals(pop3_syntax::capa_keyword(pop3_syntax::unstuff(content)), "STLS")) {
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
