#include "tlsgate/cli.hpp"

#include "tlsgate/net/socket_options.hpp"
#include "tlsgate/tls/ssl_options.hpp"

#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace tlsgate::cli {

std::vector<std::string> translate_stunnel_args(int argc, const char* const* argv) {
    std::vector<std::string> out;
    for (int i = 0; i < argc; ++i) {
        std::string a = argv[i];
        if (i > 0 &&
            (a == "-fd" || a == "-help" || a == "-version" || a == "-sockets" || a == "-options")) {
            a = "-" + a;
        }
        out.push_back(std::move(a));
    }
    return out;
}

std::string ConfigSource::name() const {
    return kind == Kind::fd ? fmt::format("fd:{}", fd) : path;
}

Result<ConfigSource> choose_config_source(const ConfigArgs& args) {
    using Kind = ConfigSource::Kind;
    std::vector<ConfigSource> sources;
    for (const std::string* file : {&args.file, &args.config, &args.print_toml}) {
        if (!file->empty()) {
            sources.push_back(ConfigSource{Kind::file, *file, -1});
        }
    }
    if (!args.stunnel.empty()) {
        sources.push_back(ConfigSource{Kind::stunnel_file, args.stunnel, -1});
    }
    if (args.fd >= 0) {
        sources.push_back(ConfigSource{Kind::fd, "", args.fd});
    }
    if (sources.size() > 1) {
        return Error{fmt::format("name one configuration (FILE, --config, --stunnel, --print-toml "
                                 "or -fd), not {}",
                                 sources.size())};
    }
    if (sources.empty()) {
        return ConfigSource{Kind::file, "/etc/tlsgate/tlsgate.toml", -1};
    }
    return sources.front();
}

config::LoadedConfig load_from_command_line(const ConfigSource& source) {
    switch (source.kind) {
    case ConfigSource::Kind::fd:
        return config::load_config_fd(source.fd);
    case ConfigSource::Kind::stunnel_file:
        return config::load_stunnel_config_file(source.path);
    case ConfigSource::Kind::file:
        break;
    }
    return config::load_config_file(source.path);
}

void print_socket_options() {
    // Like stunnel -sockets: the defaults a fresh TCP socket of each family has here.
    int fd4 = ::socket(AF_INET, SOCK_STREAM, 0);
    int fd6 = ::socket(AF_INET6, SOCK_STREAM, 0);
    fmt::print("Socket option defaults (a:, l: and r: in \"socket =\" / socket_options):\n");
    fmt::print("    {:<18}| {:<10}| {}\n", "Option Name", "IPv4", "IPv6");
    for (const auto& spec : net::socket_option_specs()) {
        std::string v4 = fd4 >= 0 ? net::describe_socket_option(fd4, spec) : "--";
        std::string v6 = fd6 >= 0 ? net::describe_socket_option(fd6, spec) : "--";
        fmt::print("    {:<18}| {:<10}| {}\n", spec.name, v4, v6);
    }
    if (fd4 >= 0) {
        ::close(fd4);
    }
    if (fd6 >= 0) {
        ::close(fd6);
    }
}

void print_ssl_options() {
    fmt::print("Supported TLS options (\"options = NAME\", \"-NAME\" clears):\n");
    for (const auto& o : tls::ssl_option_names()) {
        fmt::print("options = {}\n", o.name);
    }
}

} // namespace tlsgate::cli
