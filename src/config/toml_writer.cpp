#include "tlsgate/config/toml_writer.hpp"

#include "key_table.hpp"

#include <fmt/format.h>

namespace tlsgate::config {

namespace {

// The keys of `keys` whose value in `owner` differs from what the loader would put there
// without them, one "key = value" line each.
template <class Owner>
std::string changed_lines(const std::vector<Key<Owner>>& keys, const Owner& owner) {
    std::string out;
    for (const auto& k : keys) {
        if (!k.differs_from_default(owner)) {
            continue;
        }
        if (auto text = k.write(owner)) {
            out += fmt::format("{} = {}\n", k.name, *text);
        }
    }
    return out;
}

} // namespace

std::string write_toml(const Config& config, const std::vector<std::string>& notes) {
    std::string out;
    if (!config.source_file.empty()) {
        out += fmt::format("# tlsgate configuration written from {}\n", config.source_file);
    }
    for (const auto& n : notes) {
        out += fmt::format("# note: {}\n", n);
    }
    if (std::string global = changed_lines(global_keys(), config.global); !global.empty()) {
        out += "\n[global]\n" + global;
    }
    // Every service carries its merged TLS settings, so there is no [tls] section.
    for (const auto& s : config.services) {
        out += "\n[[service]]\n";
        out += changed_lines(service_keys(), s);
        out += changed_lines(tls_keys(), s);
    }
    return out;
}

} // namespace tlsgate::config
