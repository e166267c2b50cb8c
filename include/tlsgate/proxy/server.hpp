#pragma once

#include "tlsgate/config/model.hpp"
#include "tlsgate/proxy/prepare.hpp"
#include "tlsgate/proxy/service.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tlsgate::proxy {

// Re-reads the configuration file given at start, with the same front end (TOML or
// stunnel.conf); main supplies it so proxy/ does not know about config formats.
using ConfigLoader = std::function<config::LoadResult()>;

struct RunOptions {
    bool daemon = false; // --daemon: detach even when global.daemon is false
    ConfigLoader reload; // SIGHUP; when unset, SIGHUP is logged and ignored
    // --ports-file: "SERVICE ADDRESS" lines, written once every listener is bound and
    // replaced after a reload; removed at exit.
    std::optional<std::string> ports_file;
};

// Daemon duties (detach, pid file, chroot, privileges, log file), binds every listener, runs
// the workers until SIGINT/SIGTERM/SIGQUIT and the drain are over. SIGUSR1 reopens the log
// file, SIGUSR2 lists open connections. SIGHUP reloads the services: new connections get
// the new settings and certificates, open ones keep theirs, unchanged listen addresses keep
// their sockets; [global] keys other than log_level need a restart. After chroot, a reload
// reads the configuration file, certificates and keys by their paths inside the chroot, and
// after dropping privileges as the unprivileged user. Returns the process exit code.
int run_server(const config::Config& config, std::vector<std::shared_ptr<Service>> services,
               const RunOptions& options = {});

} // namespace tlsgate::proxy
