#pragma once

// What the TOML key tables (src/config/key_table.cpp) tell the rest of tlsgate: the key
// reference for the docs, and which [global] changes a reload cannot apply.
#include "tlsgate/config/model.hpp"

#include <string>
#include <vector>

namespace tlsgate::config {

struct KeyInfo {
    std::string section; // "global", "tls" or "service"
    std::string name;
    std::string type;
    std::string default_text; // TOML text, "(unset)", or how it is derived
    std::string doc;
};

// Every TOML key, section by section, in the order --print-toml writes them.
std::vector<KeyInfo> key_reference();

// The reference as a markdown document (docs/config-keys.md; tlsgate --print-keys).
std::string key_reference_markdown();

// The [global] keys whose values differ between `running` and `loaded` and that take effect
// only after a restart (threads, identity, files opened at start), in table order.
std::vector<std::string> restart_only_changes(const Global& running, const Global& loaded);

} // namespace tlsgate::config
