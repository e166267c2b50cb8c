#include "tlsgate/config/read_file.hpp"

#include <cerrno>
#include <fcntl.h>
#include <unistd.h>

namespace tlsgate::config {

int read_all(int fd, std::string& out) {
    char buf[16384];
    while (true) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno;
        }
        if (n == 0) {
            return 0;
        }
        out.append(buf, static_cast<size_t>(n));
    }
}

int read_whole_file(const std::string& path, std::string& out) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return errno;
    }
    const int err = read_all(fd, out);
    ::close(fd);
    return err;
}

} // namespace tlsgate::config
