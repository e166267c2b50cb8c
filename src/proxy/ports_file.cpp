#include "tlsgate/proxy/ports_file.hpp"

#include "tlsgate/core/daemon.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

namespace tlsgate::proxy {
namespace {

std::string errno_text() {
    return std::strerror(errno);
}

} // namespace

std::vector<BoundListener> bound_listeners(const std::vector<std::shared_ptr<Service>>& services,
                                           const std::vector<net::Address>& bound) {
    std::vector<BoundListener> out;
    for (size_t i = 0; i < services.size() && i < bound.size(); ++i) {
        if (services[i]->listens()) {
            out.push_back(BoundListener{services[i]->settings.name, bound[i]});
        }
    }
    return out;
}

std::string ports_file_text(const std::vector<BoundListener>& listeners) {
    std::string text;
    for (const auto& listener : listeners) {
        text += fmt::format("{} {}\n", listener.service, listener.address.to_string());
    }
    return text;
}

PortsFile::~PortsFile() {
    (void)remove();
    if (dir_fd_ >= 0) {
        ::close(dir_fd_);
    }
}

Result<> PortsFile::create(const std::string& path, const std::vector<BoundListener>& listeners) {
    if (path.empty() || path.back() == '/') {
        return Error{fmt::format("ports file \"{}\" is not a file name", path)};
    }
    const size_t slash = path.rfind('/');
    const std::string directory =
        slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
    const int dir_fd = ::open(directory.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0) {
        return Error{
            fmt::format("cannot open the directory of ports file {}: {}", path, errno_text())};
    }
    if (dir_fd_ >= 0) {
        ::close(dir_fd_);
    }
    dir_fd_ = dir_fd;
    path_ = path;
    base_ = slash == std::string::npos ? path : path.substr(slash + 1);
    return replace(listeners);
}

Result<> PortsFile::replace(const std::vector<BoundListener>& listeners) {
    if (dir_fd_ < 0) {
        return {};
    }
    const std::string temporary = base_ + ".tmp";
    const int fd = ::openat(dir_fd_, temporary.c_str(),
                            O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        return Error{fmt::format("cannot create {}.tmp: {}", path_, errno_text())};
    }
    const std::string text = ports_file_text(listeners);
    bool written = core::write_all(fd, text.data(), text.size());
    int failure = written ? 0 : errno;
    if (::close(fd) != 0 && written) {
        written = false;
        failure = errno;
    }
    if (!written) {
        ::unlinkat(dir_fd_, temporary.c_str(), 0);
        return Error{fmt::format("cannot write {}.tmp: {}", path_, std::strerror(failure))};
    }
    if (::renameat(dir_fd_, temporary.c_str(), dir_fd_, base_.c_str()) != 0) {
        const std::string error =
            fmt::format("cannot rename {}.tmp to {}: {}", path_, path_, errno_text());
        ::unlinkat(dir_fd_, temporary.c_str(), 0);
        return Error{error};
    }
    written_ = true;
    return {};
}

Result<> PortsFile::remove() {
    if (!written_) {
        return {};
    }
    written_ = false;
    if (::unlinkat(dir_fd_, base_.c_str(), 0) != 0 && errno != ENOENT) {
        return Error{fmt::format("cannot remove ports file {}: {}", path_, errno_text())};
    }
    return {};
}

} // namespace tlsgate::proxy
