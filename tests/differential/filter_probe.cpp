// filter_probe: tlsgate's server filters (IMAP, POP3, SMTP) on stdin/stdout, no sockets. The
// differential tests (test_imap_differential.py, test_pop3_differential.py,
// smtp/test_smtp_differential.py) feed it what a client and a real daemon (Dovecot, aiosmtpd)
// say, relay the filter's to_backend to that daemon, and compare the commands the daemon
// executed with the command lines the filter says it forwarded (Actions::commands).
//
// One process serves many filters, each named by a number. Requests (stdin), one per event:
//   N <id> <options>\n            a new filter; options: comma-separated, any of
//                                 imap | pop3 | smtp       (the protocol; default smtp)
//                                 encrypt | may            (starttls_policy; default encrypt)
//                                 implicit                 (TLS active from the start)
//                                 hold | reject            (early_talker; default hold)
//                                 xclient                  (allow_xclient)
//                                 errors=<n>               (max_errors, at least 1)
//   C <id> <len>\n<len bytes>     client data
//   B <id> <len>\n<len bytes>     backend data
//   T <id>\n                      TLS established
//   D <id>\n                      forget the filter
// Every request is answered with one frame (stdout, flushed):
//   A <id> <close 0|1> <start_tls 0|1> <to_backend len> <to_client len> <commands>\n
//   <to_backend bytes><to_client bytes>
//   then per forwarded command: <offset into to_backend> <verb len> <verb>\n
// A malformed request ends the probe with exit status 2 and a message on stderr.
#include "tlsgate/proto/filter.hpp"

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace {

using tlsgate::config::EarlyTalker;
using tlsgate::config::Protocol;
using tlsgate::config::StarttlsPolicy;
using tlsgate::proto::Actions;
using tlsgate::proto::FilterSettings;
using tlsgate::proto::ServerFilter;

[[noreturn]] void die(const std::string& why) {
    std::fprintf(stderr, "filter_probe: %s\n", why.c_str());
    std::exit(2);
}

bool read_header(std::string& line) {
    line.clear();
    int c;
    while ((c = std::getc(stdin)) != EOF) {
        if (c == '\n') {
            return true;
        }
        line += static_cast<char>(c);
        if (line.size() > 256) {
            die("request header too long");
        }
    }
    if (!line.empty()) {
        die("truncated request header");
    }
    return false;
}

std::string read_bytes(size_t n) {
    std::string s(n, '\0');
    if (n > 0 && std::fread(s.data(), 1, n, stdin) != n) {
        die("truncated request body");
    }
    return s;
}

void write_frame(unsigned long id, const Actions& a) {
    std::printf("A %lu %d %d %zu %zu %zu\n", id, a.close ? 1 : 0, a.start_tls ? 1 : 0,
                a.to_backend.size(), a.to_client.size(), a.commands.size());
    std::fwrite(a.to_backend.data(), 1, a.to_backend.size(), stdout);
    std::fwrite(a.to_client.data(), 1, a.to_client.size(), stdout);
    for (const auto& c : a.commands) {
        std::printf("%zu %zu ", c.offset, c.verb.size());
        std::fwrite(c.verb.data(), 1, c.verb.size(), stdout);
        std::fputc('\n', stdout);
    }
    std::fflush(stdout);
}

FilterSettings parse_options(std::string_view options) {
    FilterSettings s;
    s.protocol = Protocol::smtp;
    s.auth_requires_tls = true;
    s.trace_commands = true;
    while (!options.empty()) {
        auto comma = options.find(',');
        std::string_view o = options.substr(0, comma);
        options = comma == std::string_view::npos ? std::string_view() : options.substr(comma + 1);
        if (o.empty()) {
            continue;
        }
        if (o == "imap") {
            s.protocol = Protocol::imap;
        } else if (o == "pop3") {
            s.protocol = Protocol::pop3;
        } else if (o == "smtp") {
            s.protocol = Protocol::smtp;
        } else if (o == "encrypt") {
            s.starttls_policy = StarttlsPolicy::encrypt;
        } else if (o == "may") {
            s.starttls_policy = StarttlsPolicy::may;
        } else if (o == "implicit") {
            s.tls_active_from_start = true;
        } else if (o == "hold") {
            s.early_talker = EarlyTalker::hold;
        } else if (o == "reject") {
            s.early_talker = EarlyTalker::reject;
        } else if (o == "xclient") {
            s.allow_xclient = true;
        } else if (o.starts_with("errors=")) {
            s.max_errors =
                static_cast<unsigned>(std::strtoul(std::string(o.substr(7)).c_str(), nullptr, 10));
            if (s.max_errors == 0) {
                die("errors= must be at least 1");
            }
        } else {
            die("unknown option: " + std::string(o));
        }
    }
    return s;
}

} // namespace

int main() {
    std::map<unsigned long, std::unique_ptr<ServerFilter>> filters;
    std::string header;
    while (read_header(header)) {
        char kind = 0;
        unsigned long id = 0;
        char arg[200] = {0};
        int fields = std::sscanf(header.c_str(), "%c %lu %199s", &kind, &id, arg);
        if (fields < 2) {
            die("malformed request header: " + header);
        }
        Actions out;
        if (kind == 'N') {
            filters[id] = tlsgate::proto::make_server_filter(parse_options(fields == 3 ? arg : ""));
        } else if (kind == 'D') {
            filters.erase(id);
        } else {
            auto it = filters.find(id);
            if (it == filters.end()) {
                die("no filter " + std::to_string(id));
            }
            if (kind == 'C' || kind == 'B') {
                if (fields != 3) {
                    die("missing length: " + header);
                }
                std::string data = read_bytes(std::strtoull(arg, nullptr, 10));
                if (kind == 'C') {
                    it->second->on_client_data(data, out);
                } else {
                    it->second->on_backend_data(data, out);
                }
            } else if (kind == 'T') {
                it->second->on_tls_established(out);
            } else {
                die("unknown request: " + header);
            }
        }
        write_frame(id, out);
    }
    return 0;
}
