#pragma once

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fmt/format.h>
#include <fstream>
#include <iterator>
#include <string>
#include <sys/stat.h>

namespace tlsgate::test {

// A fresh directory under /tmp, removed with its files at the end of the test.
struct TempDir {
    TempDir() {
        char name[] = "/tmp/tlsgate-unit-XXXXXX";
        REQUIRE(mkdtemp(name) != nullptr);
        path = name;
    }
    ~TempDir() {
        const std::string command = fmt::format("rm -rf '{}'", path);
        [[maybe_unused]] int rc = std::system(command.c_str());
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    std::string file(const std::string& name) const { return path + "/" + name; }
    std::string path;
};

inline std::string read_file(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void write_file(const std::string& path, const std::string& text) {
    std::ofstream(path) << text;
}

inline bool file_exists(const std::string& path) {
    struct stat info {};
    return stat(path.c_str(), &info) == 0;
}

} // namespace tlsgate::test
