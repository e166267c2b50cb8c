#include "support/temp_dir.hpp"
#include "tlsgate/proxy/ports_file.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <sys/stat.h>
#include <variant>

using tlsgate::net::Address;
using tlsgate::proxy::BoundListener;
using tlsgate::proxy::ports_file_text;
using tlsgate::proxy::PortsFile;
using tlsgate::test::file_exists;
using tlsgate::test::read_file;
using tlsgate::test::TempDir;

namespace {

Address address(const char* text) {
    auto parsed = tlsgate::net::parse_address(text, true);
    REQUIRE(parsed);
    return *parsed;
}

ino_t inode(const std::string& path) {
    struct stat info {};
    REQUIRE(stat(path.c_str(), &info) == 0);
    return info.st_ino;
}

} // namespace

TEST_CASE("ports file text: one SERVICE ADDRESS line per listener", "[proxy][ports_file]") {
    const std::vector<BoundListener> listeners{
        {"imaps", address("127.0.0.1:993")},
        {"pop3s", address("[::1]:995")},
        {"local", address("unix:/run/tlsgate/imap.sock")},
    };
    CHECK(ports_file_text(listeners) ==
          "imaps 127.0.0.1:993\npop3s [::1]:995\nlocal unix:/run/tlsgate/imap.sock\n");
    CHECK(ports_file_text({}).empty());
}

TEST_CASE("ports file: created, replaced by rename, removed", "[proxy][ports_file]") {
    TempDir dir;
    const std::string path = dir.file("ports");
    {
        PortsFile file;
        REQUIRE(file.create(path, {{"a", address("127.0.0.1:1000")}}));
        CHECK(read_file(path) == "a 127.0.0.1:1000\n");
        const ino_t first = inode(path);
        REQUIRE(file.replace({{"a", address("127.0.0.1:1000")}, {"b", address("[::1]:2000")}}));
        CHECK(read_file(path) == "a 127.0.0.1:1000\nb [::1]:2000\n");
        CHECK(inode(path) != first);
        CHECK_FALSE(file_exists(path + ".tmp"));
        REQUIRE(file.remove());
        CHECK_FALSE(file_exists(path));
        REQUIRE(file.remove()); // idempotent
        REQUIRE(file.replace({{"a", address("127.0.0.1:1000")}}));
        CHECK(file_exists(path));
    }
    CHECK_FALSE(file_exists(path)); // the destructor removes what it wrote
}

TEST_CASE("ports file: replace without create writes nothing", "[proxy][ports_file]") {
    TempDir dir;
    PortsFile file;
    REQUIRE(file.replace({{"a", address("127.0.0.1:1000")}}));
    REQUIRE(file.remove());
}

TEST_CASE("ports file: errors name the path", "[proxy][ports_file]") {
    TempDir dir;
    PortsFile file;
    auto missing = file.create(dir.file("none/ports"), {});
    REQUIRE_FALSE(missing);
    CHECK(missing.error().message ==
          fmt::format("cannot open the directory of ports file {}: No such file or directory",
                      dir.file("none/ports")));
    auto directory = file.create(dir.path + "/", {});
    REQUIRE_FALSE(directory);
    CHECK(directory.error().message ==
          fmt::format("ports file \"{}/\" is not a file name", dir.path));
}
