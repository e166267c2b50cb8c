#include "tlsgate/tls/openssl_ptr.hpp"

#include <openssl/err.h>

namespace tlsgate::tls {

std::string take_openssl_errors() {
    std::string text;
    unsigned long code = 0;
    while ((code = ERR_get_error()) != 0) {
        char buffer[256];
        ERR_error_string_n(code, buffer, sizeof buffer);
        // Keep only the reason part ("...:reason") to stay readable in one log line.
        const char* reason = ERR_reason_error_string(code);
        if (!text.empty()) {
            text += "; ";
        }
        text += reason != nullptr ? reason : buffer;
    }
    return text;
}

} // namespace tlsgate::tls
