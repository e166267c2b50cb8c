// tlsgate: a TLS terminating proxy for mail. The command line, check mode, and start-up.
#include "tlsgate/config/toml_loader.hpp"
#include "tlsgate/log/log.hpp"
#include "tlsgate/proxy/server.hpp"
#include "tlsgate/version.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fmt/format.h>
#include <openssl/crypto.h>
#include <uv.h>

namespace {

using tlsgate::config::ConfigError;

void print_errors(const std::vector<ConfigError>& errors, const char* kind) {
    for (const auto& error : errors) {
        fmt::print(stderr, "{}: {}\n", kind, error.to_string());
    }
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"tlsgate: TLS terminating proxy for IMAP, POP3 and SMTP"};
    std::string config_file = "/etc/tlsgate/tlsgate.toml";
    bool check_only = false;
    bool show_version = false;
    bool daemon = false;
    app.add_option("-c,--config", config_file, "configuration file (TOML)");
    app.add_flag("--check", check_only,
                 "validate the configuration, certificates and keys, then exit");
    app.add_flag("--daemon", daemon,
                 "detach into the background once ready (as global.daemon = true)");
    app.add_flag("-V,--version", show_version, "print the versions of tlsgate and its libraries");
    CLI11_PARSE(app, argc, argv);

    if (show_version) {
        fmt::print("tlsgate {}\n", tlsgate::kVersion);
        fmt::print("OpenSSL: {} (built with {})\n", OpenSSL_version(OPENSSL_VERSION),
                   OPENSSL_VERSION_TEXT);
        fmt::print("libuv: {}\n", uv_version_string());
        return 0;
    }

    auto loaded = tlsgate::config::load_toml_file(config_file);
    print_errors(loaded.warnings, "warning");
    std::vector<ConfigError> errors = loaded.errors;
    tlsgate::proxy::Prepared prepared;
    // Certificates and keys are checked even when other keys are wrong, so one run reports
    // every error.
    if (const auto& model = loaded.config ? loaded.config : loaded.partial) {
        prepared = tlsgate::proxy::prepare_services(*model);
        print_errors(prepared.warnings, "warning");
        for (const auto& error : prepared.errors) {
            const bool already_reported =
                std::any_of(errors.begin(), errors.end(), [&](const ConfigError& known) {
                    return known.to_string() == error.to_string();
                });
            if (!already_reported) {
                errors.push_back(error);
            }
        }
    }
    if (!errors.empty()) {
        print_errors(errors, "error");
        fmt::print(stderr, "{}: {} error(s); nothing started\n", config_file, errors.size());
        return 1;
    }
    if (check_only) {
        for (const auto& summary : prepared.summaries) {
            fmt::print("{}\n", summary);
        }
        fmt::print("{}: configuration OK\n", config_file);
        return 0;
    }

    const auto& config = *loaded.config;
    tlsgate::log::configure(config.global.log_level, config.global.log_target);
    if (!config.services.empty()) {
        for (const auto& service : config.services) {
            if (!service.auth_requires_tls) {
                tlsgate::log::warning("service={} auth_requires_tls = false: passwords may cross "
                                      "the network in plaintext",
                                      service.name);
            }
        }
    }
    tlsgate::proxy::RunOptions options;
    options.daemon = daemon;
    // SIGHUP re-reads the same file with the same front end. Absolute, because a daemon
    // changes its working directory to "/".
    options.reload = [path = std::filesystem::absolute(config_file).string()] {
        return tlsgate::config::load_toml_file(path);
    };
    return tlsgate::proxy::run_server(config, std::move(prepared.services), options);
}
