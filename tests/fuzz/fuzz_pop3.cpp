// libFuzzer target: the POP3 server filter. The script format and the invariants checked
// are described in proto_harness.hpp and README.md.
#include "proto_harness.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    return fuzzh::run(tlsgate::config::Protocol::pop3, data, size);
}
