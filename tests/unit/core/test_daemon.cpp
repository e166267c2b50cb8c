#include "support/temp_dir.hpp"
#include "tlsgate/core/daemon.hpp"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <grp.h>
#include <pwd.h>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

using namespace tlsgate::core;

using tlsgate::test::file_exists;
using tlsgate::test::read_file;
using tlsgate::test::TempDir;
using tlsgate::test::write_file;

namespace {

// The error's text, or "" when it worked: keeps the expected messages readable below.
template <typename T> std::string error_of(const tlsgate::Result<T>& result) {
    return result ? "" : result.error().message;
}

// resolve_identity into `out` (left as it was on failure); "" or the error.
std::string resolve(const std::optional<std::string>& user, const std::optional<std::string>& group,
                    Identity& out) {
    auto resolved = resolve_identity(user, group);
    if (!resolved) {
        return resolved.error().message;
    }
    out = *resolved;
    return "";
}

} // namespace

TEST_CASE("parse_pid accepts one positive number and surrounding whitespace") {
    CHECK(parse_pid("1234\n") == 1234);
    CHECK(parse_pid("  77 ") == 77);
    CHECK_FALSE(parse_pid(""));
    CHECK_FALSE(parse_pid("\n"));
    CHECK_FALSE(parse_pid("0\n"));
    CHECK_FALSE(parse_pid("-5\n"));
    CHECK_FALSE(parse_pid("12 34\n"));
    CHECK_FALSE(parse_pid("12abc\n"));
    CHECK_FALSE(parse_pid("99999999999999999999\n"));
}

TEST_CASE("process_alive") {
    CHECK(process_alive(getpid()));
    CHECK(process_alive(1)); // init: alive even where it may not be signalled
    CHECK_FALSE(process_alive(0));
    CHECK_FALSE(process_alive(-1));
    CHECK_FALSE(process_alive(2147483646));
}

TEST_CASE("pid file: written, refused when live, stale replaced, removed") {
    TempDir dir;
    const std::string path = dir.file("tlsgate.pid");

    SECTION("a new file holds the pid and is removed") {
        PidFile pid_file;
        REQUIRE(error_of(pid_file.create(path, getpid())) == "");
        CHECK(read_file(path) == std::to_string(getpid()) + "\n");
        CHECK(error_of(pid_file.remove()) == "");
        CHECK_FALSE(file_exists(path));
        CHECK(error_of(pid_file.remove()) == ""); // idempotent
    }
    SECTION("the destructor removes it too") {
        {
            PidFile pid_file;
            REQUIRE(error_of(pid_file.create(path, getpid())) == "");
        }
        CHECK_FALSE(file_exists(path));
    }
    SECTION("a file naming a live process is refused and left alone") {
        write_file(path, "1\n");
        PidFile pid_file;
        CHECK(error_of(pid_file.create(path, getpid())) ==
              "pid file " + path + " names running process 1");
        CHECK(error_of(check_pid_file(path, getpid())) != "");
        CHECK(read_file(path) == "1\n");
    }
    SECTION("a stale or unreadable content is replaced") {
        for (const char* old : {"2147483646\n", "garbage", ""}) {
            write_file(path, old);
            CHECK(error_of(check_pid_file(path, getpid())) == "");
            PidFile pid_file;
            REQUIRE(error_of(pid_file.create(path, getpid())) == "");
            CHECK(read_file(path) == std::to_string(getpid()) + "\n");
        }
    }
    SECTION("our own pid is not another instance") {
        write_file(path, std::to_string(getpid()) + "\n");
        CHECK(error_of(check_pid_file(path, getpid())) == "");
    }
    SECTION("a missing directory is an error") {
        PidFile pid_file;
        const std::string error =
            error_of(pid_file.create(dir.file("missing/tlsgate.pid"), getpid()));
        CHECK(error.find("missing/tlsgate.pid") != std::string::npos);
    }
    SECTION("a directory name is not a file name") {
        PidFile pid_file;
        CHECK(error_of(pid_file.create(dir.path + "/", getpid())) != "");
    }
}

TEST_CASE("resolve_identity: names, numbers, and the primary group") {
    const passwd* root = getpwuid(0);
    REQUIRE(root != nullptr);
    const std::string root_name = root->pw_name;

    Identity identity;
    SECTION("nothing asked, nothing changes") {
        REQUIRE(resolve(std::nullopt, std::nullopt, identity) == "");
        CHECK_FALSE(identity.change_user);
        CHECK_FALSE(identity.change_group);
        CHECK(error_of(drop_privileges(identity)) == "");
    }
    SECTION("a user by name brings its primary group") {
        REQUIRE(resolve(root_name, std::nullopt, identity) == "");
        CHECK(identity.change_user);
        CHECK(identity.uid == 0);
        CHECK(identity.gid == root->pw_gid);
        CHECK(identity.user_name == root_name);
        CHECK_FALSE(identity.groups.empty());
    }
    SECTION("a user by number") {
        REQUIRE(resolve(std::string("0"), std::nullopt, identity) == "");
        CHECK(identity.user_name == root_name);
    }
    SECTION("a group overrides the primary group") {
        const group* wheel = getgrgid(0);
        REQUIRE(wheel != nullptr);
        REQUIRE(resolve(root_name, std::string(wheel->gr_name), identity) == "");
        CHECK(identity.gid == 0);
        REQUIRE(resolve(std::nullopt, std::string("0"), identity) == "");
        CHECK_FALSE(identity.change_user);
        CHECK(identity.change_group);
        CHECK(identity.groups == std::vector<gid_t>{0});
    }
    SECTION("unknown names are named in the error") {
        CHECK(resolve(std::string("no-such-user-tlsgate"), std::nullopt, identity) ==
              "unknown user \"no-such-user-tlsgate\"");
        CHECK(resolve(std::nullopt, std::string("no-such-group-tlsgate"), identity) ==
              "unknown group \"no-such-group-tlsgate\"");
        CHECK(resolve(std::string("4000000000"), std::nullopt, identity) ==
              "unknown user \"4000000000\"");
        CHECK(resolve(std::string(""), std::nullopt, identity) != "");
    }
}
