#pragma once

#include "tlsgate/config/model.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace tlsgate::config {

// What the stunnel.conf front end produces: the same LoadResult as the TOML loader, plus
// start notes, one line each, where tlsgate reads the file differently from stunnel (or puts
// its hardened defaults in place of stunnel's weaker ones because the file did not ask).
// Notes are not warnings: the file is fine; they tell the operator what changed.
struct StunnelLoad {
    LoadResult result;
    std::vector<std::string> notes;
};

// Parses a stunnel.conf (stunnel 5 syntax and option names, case-insensitive) and maps it onto
// the model. Every error names FILE:LINE and the option ("service[imaps].verify: ..."). An
// option tlsgate does not implement is an error; options without meaning here (Windows GUI,
// entropy sources, engines) are accepted with a warning. A file without any [section] is
// inetd mode. "include = DIR" reads every file of DIR in alphabetical order. Relative paths
// resolve against the directory of `file_name`. Runs validate_config on the result.
StunnelLoad load_stunnel_string(std::string_view text, const std::string& file_name);
StunnelLoad load_stunnel_file(const std::string& file_name);

} // namespace tlsgate::config
