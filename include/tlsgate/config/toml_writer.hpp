#pragma once

#include "tlsgate/config/model.hpp"

#include <string>
#include <vector>

namespace tlsgate::config {

// The model as TOML that load_toml_string reads back to the same model (every key written
// explicitly, paths absolute as in the model). `notes` go first as comments: for
// `tlsgate --print-toml stunnel.conf`, which helps migrating a stunnel.conf.
std::string write_toml(const Config& config, const std::vector<std::string>& notes = {});

} // namespace tlsgate::config
