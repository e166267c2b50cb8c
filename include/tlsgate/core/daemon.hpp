#pragma once

#include "tlsgate/core/result.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

// Daemon duties: detaching from the terminal, the pid file, chroot and dropping privileges.
// Every fallible function returns a Result whose error is readable; nothing here logs or exits
// except detach(), whose waiting parent must exit.
namespace tlsgate::core {

// Writes all `size` bytes to `fd`, again after EINTR and short writes; false on an error
// (errno says which). For the small files the daemon writes (pid file, ports file).
bool write_all(int fd, const char* data, size_t size);

// The classic double fork. detach() returns only in the grandchild (the daemon), which is in
// a new session, is not a session leader (so it can never acquire a controlling terminal),
// and has "/" as its working directory. The original process waits on a pipe until the daemon
// calls ready() (exit status 0) or fail() (the reason is printed on the original process's
// stderr, exit status 1) or exits without a word (a generic message, exit status 1): so a
// start-up error reaches the terminal even when the daemon logs only to syslog or a file.
// stdin/stdout/stderr stay attached until ready() points them at /dev/null.
class Detacher {
public:
    Detacher() = default;
    Detacher(const Detacher&) = delete;
    Detacher& operator=(const Detacher&) = delete;
    ~Detacher();

    Result<> detach();
    // In the daemon: stdio to /dev/null, then tell the waiting parent to exit 0. No-op when
    // detach() was never called.
    Result<> ready();
    // In the daemon, before ready(): `message` is handed to the waiting parent when this
    // object is destroyed (so after whatever was created later, a pid file say, has been
    // cleaned up): the parent prints it as "error: MESSAGE" on its stderr (nothing for an
    // empty message: the daemon already said it on the inherited stderr) and exits 1. No-op
    // when detach() was never called.
    void fail(std::string_view message);
    // True in the daemon until ready(): the parent is still waiting.
    bool parent_waiting() const { return ready_fd_ >= 0; }

private:
    int ready_fd_ = -1;                  // write end of the readiness pipe, in the daemon
    std::optional<std::string> failure_; // fail()'s message, sent at destruction
};

// The pid file. Created before privileges are dropped (the directory may be root's) and
// removed at exit through a descriptor of its directory opened at creation, so removal still
// works inside a chroot; after dropping privileges removal needs the directory to be writable
// by the new user, and remove() says so when it is not.
class PidFile {
public:
    PidFile() = default;
    PidFile(const PidFile&) = delete;
    PidFile& operator=(const PidFile&) = delete;
    ~PidFile();

    // Refuses when the file names a live process other than this one; a stale file is
    // replaced.
    Result<> create(const std::string& path, pid_t pid);
    // Idempotent; fails only when the file could not be removed.
    Result<> remove();
    const std::string& path() const { return path_; }

private:
    std::string path_;
    int dir_fd_ = -1;
    bool created_ = false;
};

// Fine when `path` does not exist, is stale, or names `self`; otherwise why not to start.
Result<> check_pid_file(const std::string& path, pid_t self);
// The pid in a pid file's text ("1234\n"), or nullopt when it is not one positive number.
std::optional<pid_t> parse_pid(const std::string& text);
// Whether `pid` names a live process (one this process may not signal counts as live).
bool process_alive(pid_t pid);

// Who to become after binding: resolved while /etc/passwd and /etc/group are reachable
// (before chroot).
struct Identity {
    uid_t uid = 0;
    gid_t gid = 0;
    std::string user_name;     // empty when only a group was given
    std::vector<gid_t> groups; // supplementary groups (the user's, or just gid)
    bool change_user = false;
    bool change_group = false;
};

// `user` and `group` are names or numbers. With a user and no group, the user's primary
// group is used. Errors name the unknown user or group.
Result<Identity> resolve_identity(const std::optional<std::string>& user,
                                  const std::optional<std::string>& group);

// chroot(2) to `directory` and chdir("/") inside it.
Result<> enter_chroot(const std::string& directory);

// setgroups, setgid, setuid, in that order, then checks that the change really happened and
// that root cannot be regained. glibc applies set*id to every thread of the process, but
// tlsgate calls this before any worker thread exists anyway.
Result<> drop_privileges(const Identity& identity);

} // namespace tlsgate::core
