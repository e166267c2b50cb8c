// tlsgate: a TLS terminating proxy for mail. The command line, check mode, and start-up.
#include "tlsgate/cli.hpp"
#include "tlsgate/config/keys.hpp"
#include "tlsgate/config/load.hpp"
#include "tlsgate/config/toml_writer.hpp"
#include "tlsgate/key_reference_man.hpp"
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

// A start refused for its configuration (an unreadable key, say) is also logged where the
// configuration sends its lines, so an operator who reads only syslog or the log file sees
// why the service is down. Lines to stderr would repeat what print_errors just said.
void log_start_errors(const tlsgate::config::Config* model,
                      const std::vector<ConfigError>& errors) {
    if (!model || (model->global.log_target != tlsgate::config::LogTarget::syslog &&
                   !model->global.log_file)) {
        return;
    }
    if (!tlsgate::log::configure(model->global)) {
        return; // e.g. the log file cannot be opened: stderr said it all
    }
    for (const auto& error : errors) {
        tlsgate::log::error("cannot start: {}", error.to_string());
    }
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"tlsgate: TLS terminating proxy for IMAP, POP3 and SMTP"};
    tlsgate::cli::ConfigArgs config_args;
    bool check_only = false;
    bool show_version = false;
    bool show_sockets = false;
    bool show_options = false;
    std::string keys_format; // --print-keys[=markdown|man]
    app.add_option("file", config_args.file,
                   "configuration file, TOML or stunnel.conf (told apart by "
                   "its syntax)");
    app.add_option("-c,--config", config_args.config, "configuration file, TOML or stunnel.conf");
    app.add_option("--stunnel", config_args.stunnel, "configuration file read as stunnel.conf");
    app.add_option("--fd", config_args.fd,
                   "read the configuration from this descriptor (stunnel -fd)");
    app.add_option("--print-toml", config_args.print_toml,
                   "print the configuration (e.g. a stunnel.conf) as equivalent TOML and exit");
    bool daemon = false;
    std::string ports_file;
    bool strict = false;
    app.add_flag("-t,--check", check_only,
                 "validate the configuration, certificates and keys, then exit");
    app.add_flag("--strict", strict, "with --check: fail (exit 1) on warnings too");
    app.add_flag("--daemon", daemon,
                 "detach into the background once ready (as global.daemon = true)");
    app.add_option("--ports-file", ports_file,
                   "once every listener is bound (and after a reload), write PATH with one "
                   "\"SERVICE ADDRESS\" line per listener; removed at exit")
        ->type_name("PATH");
    app.add_flag("-V,--version", show_version, "print the versions of tlsgate and its libraries");
    app.add_flag("--sockets", show_sockets, "print the socket options and their OS defaults");
    app.add_flag("--options", show_options, "print the names \"options =\" accepts");
    app.add_option("--print-keys", keys_format,
                   "print every TOML configuration key as a markdown table (docs/config-keys.md) "
                   "or, with =man, as the tlsgate.toml(5) manual page (docs/tlsgate.toml.5)")
        ->expected(0, 1)
        ->type_name("[markdown|man]")
        ->check(CLI::IsMember({"", "markdown", "man"}));
    // stunnel's -fd, -help, -version, -sockets and -options work too.
    std::vector<std::string> args = tlsgate::cli::translate_stunnel_args(argc, argv);
    std::vector<const char*> arg_pointers;
    for (const auto& a : args) {
        arg_pointers.push_back(a.c_str());
    }
    try {
        app.parse(static_cast<int>(arg_pointers.size()), arg_pointers.data());
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }

    if (show_version) {
        fmt::print("tlsgate {}\n", tlsgate::kVersion);
        fmt::print("OpenSSL: {} (built with {})\n", OpenSSL_version(OPENSSL_VERSION),
                   OPENSSL_VERSION_TEXT);
        fmt::print("libuv: {}\n", uv_version_string());
        return 0;
    }
    if (show_sockets) {
        tlsgate::cli::print_socket_options();
        return 0;
    }
    if (show_options) {
        tlsgate::cli::print_ssl_options();
        return 0;
    }
    if (app.count("--print-keys") > 0) {
        fmt::print("{}", keys_format == "man" ? tlsgate::key_reference_man_page()
                                              : tlsgate::config::key_reference_markdown());
        return 0;
    }

    auto chosen = tlsgate::cli::choose_config_source(config_args);
    if (!chosen) {
        fmt::print(stderr, "error: {}\n", chosen.error().message);
        return 1;
    }
    const auto source = *chosen;
    auto loaded = tlsgate::cli::load_from_command_line(source);
    print_errors(loaded.result.warnings, "warning");
    std::vector<ConfigError> errors = loaded.result.errors;
    if (!config_args.print_toml.empty()) {
        // A conversion: the model is what matters, certificates are checked where it runs.
        if (!errors.empty()) {
            print_errors(errors, "error");
            return 1;
        }
        fmt::print("{}", tlsgate::config::write_toml(*loaded.result.config, loaded.notes));
        return 0;
    }
    tlsgate::proxy::Prepared prepared;
    // Certificates and keys are checked even when other keys are wrong, so one run reports
    // every error.
    if (const auto& model = loaded.result.config ? loaded.result.config : loaded.result.partial) {
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
        fmt::print(stderr, "{}: {} error(s); nothing started\n", source.name(), errors.size());
        if (!check_only) {
            const auto& model = loaded.result.config ? loaded.result.config : loaded.result.partial;
            log_start_errors(model ? &*model : nullptr, errors);
        }
        return 1;
    }
    if (check_only) {
        const size_t warnings = loaded.result.warnings.size() + prepared.warnings.size();
        if (strict && warnings > 0) {
            fmt::print(stderr, "{}: {} warning(s) and --strict; configuration refused\n",
                       source.name(), warnings);
            return 1;
        }
        for (const auto& note : loaded.notes) {
            fmt::print("note: {}\n", note);
        }
        for (const auto& summary : prepared.summaries) {
            fmt::print("{}\n", summary);
        }
        fmt::print("{}: configuration OK ({})\n", source.name(), to_string(loaded.format));
        return 0;
    }

    const auto& config = *loaded.result.config;
    tlsgate::log::configure(config.global.log_level, config.global.log_target);
    // Where a stunnel.conf means something different here, say so at every start.
    for (const auto& note : loaded.notes) {
        tlsgate::log::notice("{}", note);
    }
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
    if (!ports_file.empty()) {
        options.ports_file = ports_file;
    }
    // SIGHUP re-reads the same source with the same front end. Paths made absolute, because a
    // daemon changes its working directory to "/"; a config read from a descriptor cannot be
    // read again.
    tlsgate::cli::ConfigSource reload_source = source;
    if (reload_source.kind != tlsgate::cli::ConfigSource::Kind::fd) {
        reload_source.path = std::filesystem::absolute(reload_source.path).string();
    }
    options.reload = [reload_source] {
        if (reload_source.kind == tlsgate::cli::ConfigSource::Kind::fd) {
            tlsgate::config::LoadResult refused;
            refused.errors.push_back(tlsgate::config::ConfigError{
                tlsgate::config::Location{reload_source.name(), 0}, "",
                "the configuration came from a descriptor (-fd) and cannot be read again; "
                "restart to change it"});
            return refused;
        }
        auto reloaded = tlsgate::cli::load_from_command_line(reload_source);
        for (const auto& note : reloaded.notes) {
            tlsgate::log::notice("{}", note);
        }
        return std::move(reloaded.result);
    };
    return tlsgate::proxy::run_server(config, std::move(prepared.services), options);
}
