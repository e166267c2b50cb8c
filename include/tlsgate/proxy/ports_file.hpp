#pragma once

#include "tlsgate/core/result.hpp"
#include "tlsgate/net/address.hpp"
#include "tlsgate/proxy/service.hpp"

#include <memory>
#include <string>
#include <vector>

namespace tlsgate::proxy {

// One bound listener as --ports-file lists it.
struct BoundListener {
    std::string service;
    net::Address address;
};

// The listeners of `services`, with the addresses they are bound to (`bound` is indexed like
// `services`, as Worker::open_listeners fills it; inetd and SNI-routed services are skipped).
std::vector<BoundListener> bound_listeners(const std::vector<std::shared_ptr<Service>>& services,
                                           const std::vector<net::Address>& bound);

// The file's text: one "SERVICE ADDRESS" line per listener, the address as the
// "listening on" log line prints it (127.0.0.1:43211, [::1]:43211, unix:/path).
std::string ports_file_text(const std::vector<BoundListener>& listeners);

// --ports-file PATH: tells scripts and tests which ports the listeners got (port 0 in the
// config) without reading the log. Written while privileged, before chroot; the directory is
// held open so a reload can replace the file and the exit can remove it by the same path
// inside a chroot (after dropping privileges the directory must be writable by that user).
class PortsFile {
public:
    PortsFile() = default;
    PortsFile(const PortsFile&) = delete;
    PortsFile& operator=(const PortsFile&) = delete;
    ~PortsFile();

    // Opens the directory of `path` and writes the file.
    Result<> create(const std::string& path, const std::vector<BoundListener>& listeners);
    // Writes PATH.tmp and renames it over PATH, so a reader sees the old list or the new one,
    // never a partial file. Does nothing when create() was not called or failed.
    Result<> replace(const std::vector<BoundListener>& listeners);
    // Removes the file if this process wrote it. Idempotent.
    Result<> remove();

private:
    std::string path_;
    std::string base_; // the file name inside dir_fd_
    int dir_fd_ = -1;
    bool written_ = false;
};

} // namespace tlsgate::proxy
