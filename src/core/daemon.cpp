#include "tlsgate/core/daemon.hpp"

#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace tlsgate::core {
namespace {

std::string errno_text() {
    return std::strerror(errno);
}

// Numeric ids are accepted as well as names, as stunnel does.
std::optional<unsigned long> as_number(const std::string& text) {
    unsigned long value = 0;
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (text.empty() || ec != std::errc() || ptr != end) {
        return std::nullopt;
    }
    return value;
}

// getpwnam_r/getgrnam_r want a caller-sized buffer; sysconf may say "no limit" (-1).
size_t lookup_buffer_size(int name) {
    const long size = sysconf(name);
    return size > 0 ? static_cast<size_t>(size) : 16384;
}

// The daemon's side of the readiness pipe: one kind byte ('R' ready, 'F' failed) and, for a
// failure, the message. The pipe is closed by the caller (or at exit).
void tell_parent(int fd, char kind, std::string_view message) {
    std::string text(1, kind);
    text += message;
    (void)write_all(fd, text.data(), text.size());
}

// The original process's side: reads until EOF (every copy of the write end closed, i.e. the
// daemon said its word or exited) and returns the exit status for the launching process.
int report_daemon_outcome(int fd) {
    std::string said;
    char buffer[512];
    for (;;) {
        const ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        said.append(buffer, static_cast<size_t>(n));
    }
    if (!said.empty() && said[0] == 'R') {
        return 0;
    }
    if (said.empty()) {
        const std::string_view line = "error: tlsgate exited during start-up before it was ready\n";
        (void)write_all(STDERR_FILENO, line.data(), line.size());
    } else if (said.size() > 1) {
        const std::string line = fmt::format("error: {}\n", std::string_view(said).substr(1));
        (void)write_all(STDERR_FILENO, line.data(), line.size());
    }
    return 1;
}

} // namespace

bool write_all(int fd, const char* data, size_t size) {
    while (size > 0) {
        const ssize_t n = ::write(fd, data, size);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        data += n;
        size -= static_cast<size_t>(n);
    }
    return true;
}

// ---------------------------------------------------------------------------- Detacher

Detacher::~Detacher() {
    if (ready_fd_ >= 0) {
        if (failure_) {
            tell_parent(ready_fd_, 'F', *failure_);
        }
        ::close(ready_fd_);
    }
}

Result<> Detacher::detach() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        return Error{"cannot create the readiness pipe: " + errno_text()};
    }
    std::fflush(nullptr); // nothing buffered may be written twice by the children
    const pid_t first = fork();
    if (first < 0) {
        ::close(fds[0]);
        ::close(fds[1]);
        return Error{"cannot fork: " + errno_text()};
    }
    if (first > 0) {
        // The original process: read what the daemon says. 'R': ready. 'F' and a message: it
        // failed and says why. EOF with nothing: it exited before it was ready.
        ::close(fds[1]);
        int status = 0;
        waitpid(first, &status, 0);
        _exit(report_daemon_outcome(fds[0]));
    }
    // The first child: a new session without a controlling terminal, then fork again so the
    // daemon is not a session leader and cannot acquire a terminal by opening one.
    ::close(fds[0]);
    if (setsid() < 0) {
        tell_parent(fds[1], 'F', "setsid failed: " + errno_text());
        _exit(1);
    }
    const pid_t second = fork();
    if (second < 0) {
        tell_parent(fds[1], 'F', "cannot fork: " + errno_text());
        _exit(1);
    }
    if (second > 0) {
        _exit(0);
    }
    ready_fd_ = fds[1];
    umask(022);
    if (chdir("/") != 0) {
        return Error{"cannot chdir to /: " + errno_text()};
    }
    return {};
}

void Detacher::fail(std::string_view message) {
    if (ready_fd_ >= 0) {
        failure_ = std::string(message);
    }
}

Result<> Detacher::ready() {
    if (ready_fd_ < 0) {
        return {};
    }
    const int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null_fd < 0) {
        return Error{"cannot open /dev/null: " + errno_text()};
    }
    for (int fd : {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO}) {
        if (dup2(null_fd, fd) < 0) {
            const std::string error = "cannot redirect stdio to /dev/null: " + errno_text();
            ::close(null_fd);
            return Error{error};
        }
    }
    ::close(null_fd);
    const char byte = 'R';
    const bool told = write_all(ready_fd_, &byte, 1);
    ::close(ready_fd_);
    ready_fd_ = -1;
    if (!told) {
        return Error{"cannot tell the parent process that tlsgate is ready: " + errno_text()};
    }
    return {};
}

// ---------------------------------------------------------------------------- pid file

std::optional<pid_t> parse_pid(const std::string& text) {
    size_t begin = text.find_first_not_of(" \t\r\n");
    if (begin == std::string::npos) {
        return std::nullopt;
    }
    const size_t end = text.find_last_not_of(" \t\r\n") + 1;
    long value = 0;
    auto [ptr, ec] = std::from_chars(text.data() + begin, text.data() + end, value);
    if (ec != std::errc() || ptr != text.data() + end || value <= 0 || value > 0x7fffffff) {
        return std::nullopt;
    }
    return static_cast<pid_t>(value);
}

bool process_alive(pid_t pid) {
    return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM);
}

Result<> check_pid_file(const std::string& path, pid_t self) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT) {
            return {};
        }
        return Error{fmt::format("cannot read pid file {}: {}", path, errno_text())};
    }
    char text[64] = {};
    const ssize_t n = ::read(fd, text, sizeof text - 1);
    ::close(fd);
    const auto old = parse_pid(std::string(text, n > 0 ? static_cast<size_t>(n) : 0));
    if (old && *old != self && process_alive(*old)) {
        return Error{fmt::format("pid file {} names running process {}", path, *old)};
    }
    return {};
}

PidFile::~PidFile() {
    (void)remove(); // nobody to tell at this point; run_server removes it and says so
    if (dir_fd_ >= 0) {
        ::close(dir_fd_);
    }
}

Result<> PidFile::create(const std::string& path, pid_t pid) {
    if (path.empty() || path.back() == '/') {
        return Error{fmt::format("pid file \"{}\" is not a file name", path)};
    }
    if (auto checked = check_pid_file(path, pid); !checked) {
        return checked;
    }
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
        return Error{fmt::format("cannot remove stale pid file {}: {}", path, errno_text())};
    }
    const size_t slash = path.rfind('/');
    const std::string directory =
        slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
    const int dir_fd = ::open(directory.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0) {
        return Error{
            fmt::format("cannot open the directory of pid file {}: {}", path, errno_text())};
    }
    // O_EXCL: if two instances race past the check above, only one wins.
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        const std::string error = fmt::format("cannot create pid file {}: {}", path, errno_text());
        ::close(dir_fd);
        return Error{error};
    }
    const std::string text = fmt::format("{}\n", pid);
    const bool written = write_all(fd, text.data(), text.size());
    ::close(fd);
    if (!written) {
        ::unlink(path.c_str());
        ::close(dir_fd);
        return Error{fmt::format("cannot write pid file {}: {}", path, errno_text())};
    }
    path_ = path;
    dir_fd_ = dir_fd;
    created_ = true;
    return {};
}

Result<> PidFile::remove() {
    if (!created_) {
        return {};
    }
    created_ = false;
    const size_t slash = path_.rfind('/');
    const std::string base = slash == std::string::npos ? path_ : path_.substr(slash + 1);
    if (::unlinkat(dir_fd_, base.c_str(), 0) != 0 && errno != ENOENT) {
        return Error{fmt::format("cannot remove pid file {}: {}{}", path_, errno_text(),
                                 errno == EACCES || errno == EPERM
                                     ? " (its directory must be writable by the unprivileged user)"
                                     : "")};
    }
    return {};
}

// ---------------------------------------------------------------------------- identity

Result<Identity> resolve_identity(const std::optional<std::string>& user,
                                  const std::optional<std::string>& group) {
    Identity out;
    if (user) {
        std::vector<char> buffer(lookup_buffer_size(_SC_GETPW_R_SIZE_MAX));
        passwd entry{};
        passwd* found = nullptr;
        int rc = 0;
        if (auto number = as_number(*user)) {
            rc = getpwuid_r(static_cast<uid_t>(*number), &entry, buffer.data(), buffer.size(),
                            &found);
        } else {
            rc = getpwnam_r(user->c_str(), &entry, buffer.data(), buffer.size(), &found);
        }
        if (found == nullptr) {
            return Error{
                rc != 0 ? fmt::format("cannot look up user \"{}\": {}", *user, std::strerror(rc))
                        : fmt::format("unknown user \"{}\"", *user)};
        }
        out.uid = entry.pw_uid;
        out.gid = entry.pw_gid;
        out.user_name = entry.pw_name;
        out.change_user = true;
        out.change_group = true;
    }
    if (group) {
        std::vector<char> buffer(lookup_buffer_size(_SC_GETGR_R_SIZE_MAX));
        struct group entry {};
        struct group* found = nullptr;
        int rc = 0;
        if (auto number = as_number(*group)) {
            rc = getgrgid_r(static_cast<gid_t>(*number), &entry, buffer.data(), buffer.size(),
                            &found);
        } else {
            rc = getgrnam_r(group->c_str(), &entry, buffer.data(), buffer.size(), &found);
        }
        if (found == nullptr) {
            return Error{
                rc != 0 ? fmt::format("cannot look up group \"{}\": {}", *group, std::strerror(rc))
                        : fmt::format("unknown group \"{}\"", *group)};
        }
        out.gid = entry.gr_gid;
        out.change_group = true;
    }
    if (out.change_user) {
        // The user's supplementary groups, computed now while /etc/group is reachable.
        int count = 64;
        std::vector<gid_t> groups(static_cast<size_t>(count));
        while (getgrouplist(out.user_name.c_str(), out.gid, groups.data(), &count) < 0) {
            groups.resize(static_cast<size_t>(count) + 64);
            count = static_cast<int>(groups.size());
        }
        groups.resize(static_cast<size_t>(count));
        out.groups = std::move(groups);
    } else if (out.change_group) {
        out.groups = {out.gid};
    }
    return out;
}

Result<> enter_chroot(const std::string& directory) {
    if (::chroot(directory.c_str()) != 0) {
        return Error{fmt::format("cannot chroot to {}: {}", directory, errno_text())};
    }
    if (::chdir("/") != 0) {
        return Error{
            fmt::format("cannot chdir to / inside the chroot {}: {}", directory, errno_text())};
    }
    return {};
}

Result<> drop_privileges(const Identity& identity) {
    if (!identity.change_group && !identity.change_user) {
        return {};
    }
    // Groups first: once the uid is not 0 they can no longer be changed.
    if (::setgroups(identity.groups.size(), identity.groups.data()) != 0) {
        return Error{fmt::format("setgroups failed: {}", errno_text())};
    }
    if (::setgid(identity.gid) != 0) {
        return Error{fmt::format("setgid({}) failed: {}", identity.gid, errno_text())};
    }
    if (identity.change_user && ::setuid(identity.uid) != 0) {
        return Error{fmt::format("setuid({}) failed: {}", identity.uid, errno_text())};
    }
    if (getgid() != identity.gid || getegid() != identity.gid) {
        return Error{fmt::format("group is still {}/{} after setgid({})", getgid(), getegid(),
                                 identity.gid)};
    }
    if (identity.change_user) {
        if (getuid() != identity.uid || geteuid() != identity.uid) {
            return Error{fmt::format("user is still {}/{} after setuid({})", getuid(), geteuid(),
                                     identity.uid)};
        }
        if (identity.uid != 0 && ::setuid(0) == 0) {
            return Error{"root privileges could be regained after setuid"};
        }
    }
    return {};
}

} // namespace tlsgate::core
