#pragma once

#include <string>

namespace tlsgate::config {

// Appends everything readable from `fd` to `out`; 0, or the errno value of the failed read.
int read_all(int fd, std::string& out);
// Reads a whole file into `out`; 0, or the errno value of the failed open or read.
int read_whole_file(const std::string& path, std::string& out);

} // namespace tlsgate::config
