// libFuzzer target: the PROXY protocol (v1/v2) header parser, fed in two arbitrary pieces.
// Checks: no crash/sanitizer report; "done" never claims more bytes than it was given, and
// never reads past a header of the protocol's maximum size.
#include "tlsgate/proto/proxy_header.hpp"

#include <cstdio>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) {
        return 0;
    }
    const size_t split = data[0] % (size + 1);
    std::string_view all(reinterpret_cast<const char*>(data + 1), size - 1);
    std::string_view first = all.substr(0, std::min(split, all.size()));
    std::string_view second = all.substr(first.size());
    tlsgate::proto::ProxyHeaderParser parser;
    size_t total = 0;
    for (std::string_view piece : {first, second}) {
        size_t consumed = 0;
        const auto status = parser.feed(piece, consumed);
        if (status == tlsgate::proto::ProxyHeaderParser::Status::done) {
            if (consumed > piece.size() || total + consumed > 16 + 65535) {
                std::fprintf(stderr, "*** INVARIANT VIOLATED: consumed %zu of %zu\n", consumed,
                             piece.size());
                std::abort();
            }
            break;
        }
        if (status == tlsgate::proto::ProxyHeaderParser::Status::error) {
            break;
        }
        total += piece.size();
    }
    return 0;
}
