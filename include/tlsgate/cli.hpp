#pragma once

#include "tlsgate/config/load.hpp"
#include "tlsgate/core/result.hpp"

#include <string>
#include <vector>

namespace tlsgate::cli {

// stunnel's single-dash options (-fd N, -help, -version, -sockets, -options) rewritten to the
// double-dash forms the CLI11 parser in main.cpp knows; every other argument is unchanged.
// Returns argv as strings, argv[0] included.
std::vector<std::string> translate_stunnel_args(int argc, const char* const* argv);

// Where the config comes from, as the command line said.
struct ConfigSource {
    enum class Kind { file, stunnel_file, fd };
    Kind kind = Kind::file;
    std::string path;         // file, stunnel_file
    int fd = -1;              // fd
    std::string name() const; // for messages: the path, or "fd:N"
};

// What the command line named; empty strings and fd -1 mean "not given".
struct ConfigArgs {
    std::string file;       // positional FILE (either format)
    std::string config;     // -c/--config FILE (either format)
    std::string stunnel;    // --stunnel FILE
    std::string print_toml; // --print-toml FILE (either format)
    int fd = -1;            // -fd N
};

// The one config source the arguments name (the default file when none); an error when they
// name more than one.
Result<ConfigSource> choose_config_source(const ConfigArgs& args);

// Loads the config named on the command line (sniffing the format unless --stunnel).
config::LoadedConfig load_from_command_line(const ConfigSource& source);

// stunnel's -sockets: every socket option tlsgate knows with the OS default on a new TCP
// socket. stunnel's -options: the names "options =" accepts.
void print_socket_options();
void print_ssl_options();

} // namespace tlsgate::cli
