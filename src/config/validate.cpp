#include "tlsgate/config/validate.hpp"

#include <algorithm>
#include <fmt/format.h>

namespace tlsgate::config {

void validate_services(const Config& config, std::vector<ConfigError>& errors) {
    auto find = [&](const std::string& name) -> const Service* {
        auto it = std::find_if(config.services.begin(), config.services.end(),
                               [&](const Service& s) { return s.name == name; });
        return it == config.services.end() ? nullptr : &*it;
    };
    for (const Service& s : config.services) {
        const std::string prefix = fmt::format("service[{}]", s.name);
        if (s.sni_parent) {
            const Service* parent = find(*s.sni_parent);
            std::string problem;
            if (!parent) {
                problem = fmt::format("no service named \"{}\"", *s.sni_parent);
            } else if (parent == &s) {
                problem = "a service cannot be its own SNI parent";
            } else if (parent->sni_parent) {
                problem = fmt::format("\"{}\" is itself an SNI service; name the service that "
                                      "owns the listener",
                                      *s.sni_parent);
            } else if (parent->client || s.client) {
                problem = "SNI routing is for server mode (client = false) only";
            } else if (parent->inetd) {
                problem = fmt::format("\"{}\" is an inetd service", *s.sni_parent);
            }
            if (!problem.empty()) {
                errors.push_back(
                    ConfigError{s.locate("sni_parent"), prefix + ".sni_parent", problem});
            }
        }
        if (s.inetd && config.services.size() > 1) {
            errors.push_back(ConfigError{s.locate("inetd"), prefix + ".inetd",
                                         "an inetd service must be the only service"});
        }
    }
}

} // namespace tlsgate::config
