#pragma once

#include "tlsgate/config/model.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace tlsgate::config {

// A config from either front end. `notes` is empty for TOML.
struct LoadedConfig {
    ConfigFormat format = ConfigFormat::toml;
    LoadResult result;
    std::vector<std::string> notes;
};

// Tells the formats apart by syntax, never by file name: "[[service]]", quoted values, arrays
// and true/false are TOML; ';' comments and bare values ("client = yes", "accept = 993",
// "cert = /etc/x.pem") are stunnel.conf.
ConfigFormat sniff_format(std::string_view text);

// Reads the file, sniffs its format and runs the matching loader.
LoadedConfig load_config_file(const std::string& path);
// The same for stunnel's "-fd N": the config is read from descriptor `fd` (messages name it
// "fd:N"; relative paths resolve against the working directory).
LoadedConfig load_config_fd(int fd);
// The same for text already in memory; `forced` skips the sniffing.
LoadedConfig load_config_string(std::string_view text, const std::string& name);
LoadedConfig load_config_string(std::string_view text, const std::string& name,
                                ConfigFormat forced);
// A file read as stunnel.conf whatever it looks like (--stunnel FILE).
LoadedConfig load_stunnel_config_file(const std::string& path);

} // namespace tlsgate::config
