#pragma once

// tlsgate.toml(5): the manual page of the configuration file, generated from the key tables
// (config::key_reference()) so it lists every key with the type, default and meaning the
// loader uses; docs/tlsgate.toml.5 is its output (tlsgate --print-keys=man), checked by a test.
#include <string>

namespace tlsgate {

std::string key_reference_man_page();

// Text made safe for one roff line: backslashes and minus signs escaped, a leading '.' or
// '\'' (a request) neutralised.
std::string roff_escape(std::string_view text);

} // namespace tlsgate
