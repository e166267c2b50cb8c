// tlsgate bench load generator: one thread, epoll, non-blocking OpenSSL 3 clients.
//
//   loadgen MODE [options]
// Modes:
//   handshake  connect, full TLS handshake, one echo of --size bytes, close_notify, close; repeat
//   (handshake and resume take --ops N: exactly N connections, then stop; bulk-up takes
//   --ops N: N MiB per connection, then close_notify and wait for the close; use --timeout)
//   resume     the same, offering the newest session ticket / session ID seen (full handshake
//              only for the first connection); reports how many were actually resumed
//   bulk-up    --conns long connections send 16 KiB writes to a sink ('S' first byte)
//   bulk-down  --conns long connections read from a source ('R' first byte)
//   latency    --conns keep-alive connections, each: write --size bytes, wait for the echo,
//              repeat (closed loop); p50/p99/p99.9 of the round trip. With --rate R the
//              requests are paced to R/s in total (open loop per connection, each
//              connection sends every conns/R s; latency counted from the actual send)
//   idle       open --count connections (handshake + one echo), print "ready N" when all are
//              open, keep them for --hold seconds, exit
//   imap       plaintext IMAP: greeting, STARTTLS (unless --plain), TLS handshake, LOGIN,
//              SELECT INBOX, FETCH 1 BODY.PEEK[], LOGOUT, close; repeat
//   freeport   print an ephemeral port on 127.0.0.1 that is free right now
//   stats      read numbers from stdin, print "median min max n"
// Output: one line of key=value pairs on stdout (rate in ops/s, mbps in MB/s = 10^6 B/s,
// cpu = this process's user+system CPU over the measurement window in % of one core).
#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <iostream>
#include <map>
#include <memory>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <string>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
    std::string mode;
    std::string host = "127.0.0.1";
    int port = 0;
    std::string tls = "1.3";
    int conns = 16;
    double duration = 5;
    double warmup = 1;
    int size = 64;
    int count = 10000;
    double hold = 5;
    double timeout = 0;
    double rate = 0; // latency: total requests/s over all connections (0 = closed loop)  // overall
                     // safety limit; default derived from the others
    std::string user = "alice", pass = "alicepass";
    bool plain = false;
    int ops = 0; // handshake/resume: exactly this many connections in all, then stop (0: by time)
};

Options opt;
SSL_CTX* ctx = nullptr;
SSL_SESSION* saved_session = nullptr;
int ep = -1;
Clock::time_point t_start, t_measure, t_end;
bool measuring = false, finished = false;

// results
uint64_t ops = 0, ops_reused = 0, bytes = 0, errors = 0, started = 0, attempted = 0;
std::vector<double> lat_us;
std::map<std::string, uint64_t> error_kinds;
std::string negotiated;
rusage ru_begin{}, ru_end{};
Clock::time_point window_begin, window_end;
int idle_ready = 0, idle_lost = 0;

double now_s() {
    return std::chrono::duration<double>(Clock::now() - t_start).count();
}

uint64_t total_ok = 0;
void note_error(const std::string& what) {
    ++errors;
    if (errors >= 2000 && total_ok == 0 && !finished) {
        fprintf(stderr, "loadgen: %llu errors and no success, giving up\n",
                (unsigned long long)errors);
        finished = true;
    }
    if (error_kinds[what]++ < 3)
        fprintf(stderr, "loadgen: %s\n", what.c_str());
}

// Resumption: every ticket / session received goes into a queue and is offered once (as
// RFC 8446 asks of clients); when the queue is empty the newest one is offered again.
std::deque<SSL_SESSION*> fresh_sessions;
int new_session_cb(SSL*, SSL_SESSION* s) {
    if (saved_session)
        SSL_SESSION_free(saved_session);
    saved_session = s; // the newest one (this reference is the callback's)
    SSL_SESSION_up_ref(s);
    fresh_sessions.push_back(s);
    if (fresh_sessions.size() > 4096) {
        SSL_SESSION_free(fresh_sessions.front());
        fresh_sessions.pop_front();
    }
    return 1;
}

enum class St { Connecting, PlainGreeting, PlainStarttls, Handshake, App, Done };

struct Conn {
    int fd = -1;
    SSL* ssl = nullptr;
    St st = St::Connecting;
    int step = 0;    // app step (imap command index, ...)
    std::string out; // bytes to write at application level
    size_t out_off = 0;
    std::string in;       // bytes received at application level (line protocols)
    size_t expect = 0;    // echo bytes still expected
    Clock::time_point t0; // request start (latency)
    bool idle_counted = false;
    bool waiting = false; // latency --rate: idle until next_send
    Clock::time_point next_send;
    bool eof = false;     // peer closed after data that is still to be looked at
    uint32_t gen = 0;     // guards against stale events for a reused fd
    uint64_t sent = 0;    // bulk-up: plaintext bytes written
    bool closing = false; // bulk-up --ops: close_notify sent, waiting for the proxy to close
};
uint32_t next_gen = 1;

Clock::duration per_conn_interval() {
    return std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(opt.conns / opt.rate));
}

std::vector<std::unique_ptr<Conn>> live; // indexed by fd
int live_count = 0;
std::string payload;

void arm(Conn* c, uint32_t ev) {
    epoll_event e{};
    e.events = ev;
    e.data.u64 = uint64_t(c->gen) << 32 | uint32_t(c->fd);
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
}

void destroy(Conn* c) {
    if (c->ssl)
        SSL_free(c->ssl);
    close(c->fd);
    int fd = c->fd;
    --live_count;
    live[fd].reset();
}

bool open_conn();

// After a connection ends: start another one where the mode is a repeating one.
void replace() {
    if (finished)
        return;
    if (opt.ops > 0 && int(attempted) >= opt.ops)
        return;
    if (opt.mode == "handshake" || opt.mode == "resume" || opt.mode == "imap")
        open_conn();
}

void fail(Conn* c, const std::string& why) {
    if (!finished) {
        if (opt.mode == "idle" && c->idle_counted)
            ++idle_lost;
        note_error(why);
    }
    destroy(c);
    replace();
}

std::string ssl_err(SSL* ssl, int r) {
    int e = SSL_get_error(ssl, r);
    unsigned long q = ERR_get_error();
    char buf[256] = "";
    if (q)
        ERR_error_string_n(q, buf, sizeof buf);
    ERR_clear_error();
    if (e == SSL_ERROR_SYSCALL)
        return std::string("tls syscall: ") + (errno ? strerror(errno) : "eof");
    if (e == SSL_ERROR_ZERO_RETURN)
        return "tls: peer closed";
    return std::string("tls error ") + std::to_string(e) + " " + buf;
}

bool open_conn() {
    ++attempted;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        note_error(std::string("socket: ") + strerror(errno));
        return false;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(uint16_t(opt.port));
    inet_pton(AF_INET, opt.host.c_str(), &sa.sin_addr);
    int r = connect(fd, (sockaddr*)&sa, sizeof sa);
    if (r < 0 && errno != EINPROGRESS) {
        note_error(std::string("connect: ") + strerror(errno));
        close(fd);
        return false;
    }
    if (size_t(fd) >= live.size())
        live.resize(size_t(fd) * 2 + 1);
    auto c = std::make_unique<Conn>();
    c->fd = fd;
    c->t0 = Clock::now();
    c->gen = next_gen++;
    epoll_event e{};
    e.events = EPOLLOUT;
    e.data.u64 = uint64_t(c->gen) << 32 | uint32_t(fd);
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
    live[fd] = std::move(c);
    ++live_count;
    ++started;
    return true;
}

void step(Conn* c);

void start_tls(Conn* c) {
    c->ssl = SSL_new(ctx);
    SSL_set_fd(c->ssl, c->fd);
    SSL_set_connect_state(c->ssl);
    if (opt.mode == "resume") {
        if (!fresh_sessions.empty()) {
            SSL_set_session(c->ssl, fresh_sessions.front());
            SSL_SESSION_free(fresh_sessions.front());
            fresh_sessions.pop_front();
        } else if (saved_session) {
            SSL_set_session(c->ssl, saved_session);
        }
    }
    c->st = St::Handshake;
}

// Plaintext line I/O (IMAP before STARTTLS, or --plain).
// Returns: 1 progress, 0 would block, -1 error/eof
int plain_io(Conn* c) {
    while (c->out_off < c->out.size()) {
        ssize_t n = write(c->fd, c->out.data() + c->out_off, c->out.size() - c->out_off);
        if (n < 0)
            return errno == EAGAIN ? 0 : -1;
        c->out_off += size_t(n);
    }
    char buf[16384];
    ssize_t n = read(c->fd, buf, sizeof buf);
    if (n == 0)
        return -1;
    if (n < 0)
        return errno == EAGAIN ? 0 : -1;
    c->in.append(buf, size_t(n));
    return 1;
}

// TLS application I/O: flush c->out, then read what is there into c->in (line modes) or
// count it (echo/bulk). Returns 1 progress, 0 would block (epoll armed), -1 error.
int tls_io(Conn* c, bool keep_input, size_t* got) {
    *got = 0;
    if (c->eof)
        return -1;
    while (c->out_off < c->out.size()) {
        int r = SSL_write(c->ssl, c->out.data() + c->out_off, int(c->out.size() - c->out_off));
        if (r <= 0) {
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_WRITE) {
                arm(c, EPOLLOUT);
                return 0;
            }
            if (e == SSL_ERROR_WANT_READ) {
                arm(c, EPOLLIN);
                return 0;
            }
            return -1;
        }
        c->out_off += size_t(r);
    }
    c->out.clear();
    c->out_off = 0;
    char buf[16384];
    for (;;) {
        int r = SSL_read(c->ssl, buf, sizeof buf);
        if (r <= 0) {
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ) {
                arm(c, EPOLLIN);
                return *got ? 1 : 0;
            }
            if (e == SSL_ERROR_WANT_WRITE) {
                arm(c, EPOLLOUT);
                return *got ? 1 : 0;
            }
            if (*got) { // hand out what came before the close first
                c->eof = true;
                return 1;
            }
            return -1;
        }
        *got += size_t(r);
        if (keep_input)
            c->in.append(buf, size_t(r));
        if (!SSL_pending(c->ssl)) {
            // one more read attempt decides between more data and WANT_READ
            continue;
        }
    }
}

const char* imap_cmds[] = {"b LOGIN %s %s\r\n", "c SELECT INBOX\r\n", "d FETCH 1 BODY.PEEK[]\r\n",
                           "e LOGOUT\r\n"};

// Finds a complete tagged response for `tag` in c->in; returns 1 OK, -1 NO/BAD, 0 not yet.
int tagged(Conn* c, const char* tag, std::string* line_out) {
    size_t pos = 0;
    std::string t = std::string(tag) + " ";
    while (true) {
        size_t e = c->in.find("\r\n", pos);
        if (e == std::string::npos)
            return 0;
        if (c->in.compare(pos, t.size(), t) == 0) {
            std::string line = c->in.substr(pos, e - pos);
            if (line_out)
                *line_out = line;
            c->in.erase(0, e + 2);
            return line.compare(t.size(), 2, "OK") == 0 ? 1 : -1;
        }
        pos = e + 2;
    }
}

void complete_op(Conn* c) {
    ++total_ok;
    if (measuring) {
        ++ops;
        if (c->ssl && SSL_session_reused(c->ssl))
            ++ops_reused;
    }
    if (negotiated.empty() && c->ssl)
        negotiated = std::string(SSL_get_version(c->ssl)) + "/" + SSL_get_cipher_name(c->ssl);
}

void finish_short(Conn* c) {
    complete_op(c);
    if (c->ssl) {
        SSL_shutdown(c->ssl); // send close_notify, don't wait for the peer's
    }
    destroy(c);
    replace();
}

void app_begin(Conn* c) {
    ++total_ok;
    c->st = St::App;
    c->step = 0;
    c->out.clear();
    c->out_off = 0;
    const std::string& m = opt.mode;
    if (m == "latency" && opt.rate > 0) {
        static int nth = 0;
        c->next_send = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                          std::chrono::duration<double>(double(nth++) / opt.rate));
        c->waiting = true;
        c->expect = 0;
    } else if (m == "handshake" || m == "resume" || m == "latency" || m == "idle") {
        c->out = payload;
        c->expect = payload.size();
        c->t0 = Clock::now();
    } else if (m == "bulk-up") {
        c->out = "S";
    } else if (m == "bulk-down") {
        c->out = "R";
    } else if (m == "imap") {
        char b[256];
        snprintf(b, sizeof b, imap_cmds[0], opt.user.c_str(), opt.pass.c_str());
        c->out = b;
    }
}

void app_tls(Conn* c) {
    const std::string& m = opt.mode;
    for (int spins = 0; spins < 64; ++spins) {
        size_t got = 0;
        if (m == "bulk-up") {
            if (c->closing) {
                // everything sent: read until the proxy closes (it has relayed it all then)
                char sink[4096];
                int r = SSL_read(c->ssl, sink, sizeof sink);
                if (r > 0)
                    continue;
                int e = SSL_get_error(c->ssl, r);
                if (e == SSL_ERROR_WANT_READ) {
                    arm(c, EPOLLIN);
                    return;
                }
                ERR_clear_error();
                destroy(c);
                return;
            }
            if (opt.ops > 0 && c->out_off >= c->out.size() && c->sent >= uint64_t(opt.ops) << 20) {
                SSL_shutdown(c->ssl);
                c->closing = true;
                continue;
            }
            // keep the TLS write side full
            if (c->out_off >= c->out.size()) {
                c->out = payload;
                c->out_off = 0;
            }
            size_t before = c->out_off;
            int r = SSL_write(c->ssl, c->out.data() + c->out_off, int(c->out.size() - c->out_off));
            if (r <= 0) {
                int e = SSL_get_error(c->ssl, r);
                if (e == SSL_ERROR_WANT_WRITE) {
                    arm(c, EPOLLOUT);
                    return;
                }
                if (e == SSL_ERROR_WANT_READ) {
                    arm(c, EPOLLIN);
                    return;
                }
                return fail(c, "bulk-up " + ssl_err(c->ssl, r));
            }
            c->out_off = before + size_t(r);
            c->sent += size_t(r);
            if (measuring)
                bytes += size_t(r);
            continue;
        }
        int r = tls_io(c, m == "imap", &got);
        if (r < 0) {
            std::string why = m + ": " + ssl_err(c->ssl, -1);
            if (m == "imap") {
                static const char* names[] = {"LOGIN", "SELECT", "FETCH", "LOGOUT"};
                std::string tail = c->in.substr(c->in.size() > 60 ? c->in.size() - 60 : 0);
                for (auto& ch : tail)
                    if (ch == '\r' || ch == '\n')
                        ch = '|';
                why += std::string(" waiting for the ") + names[c->step] +
                       " response; last bytes: \"" + tail + "\"";
            }
            return fail(c, why);
        }
        if (m == "bulk-down") {
            if (measuring)
                bytes += got;
            if (r == 0)
                return;
            continue;
        }
        if (m == "imap") {
            std::string line;
            const char tags[] = {'b', 'c', 'd', 'e'};
            char tag[2] = {tags[c->step], 0};
            int t = tagged(c, tag, &line);
            if (t == 0) {
                if (r == 0)
                    return;
                continue;
            }
            if (t < 0)
                return fail(c, "imap: " + line);
            if (++c->step == 4)
                return finish_short(c);
            c->out = imap_cmds[c->step];
            c->out_off = 0;
            continue;
        }
        // echo-based modes
        if (c->waiting) { // paced latency: nothing outstanding
            if (got)
                return fail(c, "echo: bytes while nothing was sent");
            arm(c, EPOLLIN);
            return;
        }
        if (got > c->expect)
            return fail(c, "echo: more bytes than sent");
        c->expect -= got;
        if (c->expect == 0) {
            if (m == "handshake" || m == "resume")
                return finish_short(c);
            if (m == "latency") {
                auto t = Clock::now();
                ++total_ok;
                if (measuring) {
                    ++ops;
                    lat_us.push_back(std::chrono::duration<double, std::micro>(t - c->t0).count());
                }
                if (opt.rate > 0) {
                    // paced: the next request leaves at its scheduled time (main loop)
                    c->next_send += per_conn_interval();
                    if (c->next_send < t)
                        c->next_send = t; // behind schedule: no catching up in bursts
                    c->waiting = true;
                    arm(c, EPOLLIN);
                    return;
                }
                c->out = payload;
                c->out_off = 0;
                c->expect = payload.size();
                c->t0 = t;
                continue;
            }
            if (m == "idle") {
                if (!c->idle_counted) {
                    c->idle_counted = true;
                    ++total_ok;
                    ++idle_ready;
                    if (negotiated.empty())
                        negotiated = std::string(SSL_get_version(c->ssl)) + "/" +
                                     SSL_get_cipher_name(c->ssl);
                }
                arm(c, EPOLLIN); // idle; a read event now means the proxy closed it
                if (got == 0 && r == 0)
                    return;
                return;
            }
        }
        if (r == 0)
            return;
    }
    arm(c, EPOLLIN | EPOLLOUT); // yield to other connections, come back soon
}

void app_plain_imap(Conn* c) {
    // --plain: the same IMAP dialogue without TLS (baseline straight to the IMAP server)
    for (;;) {
        int r = plain_io(c);
        if (r < 0)
            return fail(c, "imap plain: connection closed");
        std::string line;
        const char tags[] = {'b', 'c', 'd', 'e'};
        char tag[2] = {tags[c->step], 0};
        int t = tagged(c, tag, &line);
        if (t < 0)
            return fail(c, "imap: " + line);
        if (t > 0) {
            if (++c->step == 4)
                return finish_short(c);
            c->out = imap_cmds[c->step];
            c->out_off = 0;
            continue;
        }
        if (r == 0) {
            arm(c, c->out_off < c->out.size() ? EPOLLOUT : EPOLLIN);
            return;
        }
    }
}

void step(Conn* c) {
    for (;;) {
        switch (c->st) {
        case St::Connecting: {
            int err = 0;
            socklen_t l = sizeof err;
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
            if (err)
                return fail(c, std::string("connect: ") + strerror(err));
            if (opt.mode == "imap") {
                c->st = St::PlainGreeting;
                continue;
            }
            start_tls(c);
            continue;
        }
        case St::PlainGreeting:
        case St::PlainStarttls: {
            int r = plain_io(c);
            if (r < 0)
                return fail(c, "imap: connection closed before TLS");
            size_t e = c->in.find("\r\n");
            if (c->st == St::PlainGreeting) {
                if (e == std::string::npos) {
                    arm(c, EPOLLIN);
                    return;
                }
                if (c->in.compare(0, 4, "* OK") != 0)
                    return fail(c, "imap greeting: " + c->in.substr(0, e));
                c->in.erase(0, e + 2);
                if (opt.plain) {
                    c->st = St::App;
                    c->step = 0;
                    char b[256];
                    snprintf(b, sizeof b, imap_cmds[0], opt.user.c_str(), opt.pass.c_str());
                    c->out = b;
                    c->out_off = 0;
                    app_plain_imap(c);
                    return;
                }
                c->out = "a STARTTLS\r\n";
                c->out_off = 0;
                c->st = St::PlainStarttls;
                continue;
            }
            std::string line;
            int t = tagged(c, "a", &line);
            if (t < 0)
                return fail(c, "imap STARTTLS refused: " + line);
            if (t == 0) {
                if (r == 0) {
                    arm(c, c->out_off < c->out.size() ? EPOLLOUT : EPOLLIN);
                    return;
                }
                continue;
            }
            if (!c->in.empty())
                return fail(c, "imap: bytes after STARTTLS OK (injection?)");
            c->out.clear();
            c->out_off = 0;
            start_tls(c);
            continue;
        }
        case St::Handshake: {
            int r = SSL_do_handshake(c->ssl);
            if (r == 1) {
                app_begin(c);
                continue;
            }
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ) {
                arm(c, EPOLLIN);
                return;
            }
            if (e == SSL_ERROR_WANT_WRITE) {
                arm(c, EPOLLOUT);
                return;
            }
            return fail(c, "handshake: " + ssl_err(c->ssl, r));
        }
        case St::App:
            if (opt.mode == "imap" && opt.plain)
                return app_plain_imap(c);
            return app_tls(c);
        case St::Done:
            return;
        }
    }
}

double cpu_seconds(const rusage& r) {
    return double(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
           (r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

double pct(std::vector<double>& v, double p) {
    if (v.empty())
        return 0;
    size_t i = size_t(p / 100.0 * double(v.size() - 1) + 0.5);
    return v[std::min(i, v.size() - 1)];
}

int usage() {
    fprintf(stderr,
            "usage: loadgen MODE --port P [--host 127.0.0.1] [--tls 1.2|1.3] [--conns N]\n"
            "               [--duration S] [--warmup S] [--size B] [--count N] [--hold S]\n"
            "               [--user U --pass P] [--plain] [--timeout S] [--rate R] [--ops N]\n"
            "MODE: handshake resume bulk-up bulk-down latency idle imap | freeport | stats\n");
    return 2;
}

int freeport() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (sockaddr*)&sa, sizeof sa) < 0)
        return 1;
    socklen_t l = sizeof sa;
    getsockname(fd, (sockaddr*)&sa, &l);
    printf("%d\n", ntohs(sa.sin_port));
    close(fd);
    return 0;
}

int stats() {
    std::vector<double> v;
    double x;
    while (std::cin >> x)
        v.push_back(x);
    if (v.empty()) {
        printf("nan nan nan 0\n");
        return 0;
    }
    std::sort(v.begin(), v.end());
    double med = v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
    printf("%.6g %.6g %.6g %zu\n", med, v.front(), v.back(), v.size());
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2)
        return usage();
    opt.mode = argv[1];
    if (opt.mode == "freeport")
        return freeport();
    if (opt.mode == "stats")
        return stats();
    for (int i = 2; i < argc; ++i) {
        std::string a = argv[i];
        auto val = [&]() -> std::string {
            if (i + 1 >= argc) {
                usage();
                exit(2);
            }
            return argv[++i];
        };
        if (a == "--host")
            opt.host = val();
        else if (a == "--port")
            opt.port = std::stoi(val());
        else if (a == "--tls")
            opt.tls = val();
        else if (a == "--conns")
            opt.conns = std::stoi(val());
        else if (a == "--duration")
            opt.duration = std::stod(val());
        else if (a == "--warmup")
            opt.warmup = std::stod(val());
        else if (a == "--size")
            opt.size = std::stoi(val());
        else if (a == "--count")
            opt.count = std::stoi(val());
        else if (a == "--ops")
            opt.ops = std::stoi(val());
        else if (a == "--hold")
            opt.hold = std::stod(val());
        else if (a == "--timeout")
            opt.timeout = std::stod(val());
        else if (a == "--rate")
            opt.rate = std::stod(val());
        else if (a == "--user")
            opt.user = val();
        else if (a == "--pass")
            opt.pass = val();
        else if (a == "--plain")
            opt.plain = true;
        else
            return usage();
    }
    static const char* modes[] = {"handshake", "resume", "bulk-up", "bulk-down",
                                  "latency",   "idle",   "imap"};
    if (std::find_if(std::begin(modes), std::end(modes),
                     [](const char* m) { return opt.mode == m; }) == std::end(modes) ||
        opt.port <= 0)
        return usage();

    signal(SIGPIPE, SIG_IGN);
    rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (opt.mode == "idle" && rlim_t(opt.count) + 64 > rl.rlim_cur) {
        fprintf(stderr, "loadgen: RLIMIT_NOFILE %llu too low for %d connections\n",
                (unsigned long long)rl.rlim_cur, opt.count);
        return 1;
    }

    ctx = SSL_CTX_new(TLS_client_method());
    int ver = opt.tls == "1.2" ? TLS1_2_VERSION : TLS1_3_VERSION;
    SSL_CTX_set_min_proto_version(ctx, ver);
    SSL_CTX_set_max_proto_version(ctx, ver);
    SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256");
    SSL_CTX_set_cipher_list(ctx, "ECDHE-RSA-AES128-GCM-SHA256");
    SSL_CTX_set1_groups_list(ctx, "X25519");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr); // the signature is still checked
    // no chain building either: it costs the client CPU and proves nothing here
    SSL_CTX_set_cert_verify_callback(
        ctx, [](X509_STORE_CTX*, void*) { return 1; }, nullptr);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (opt.mode == "idle")
        SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS); // small client when holding many
    if (opt.mode == "resume") {
        SSL_CTX_set_session_cache_mode(ctx,
                                       SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(ctx, new_session_cb);
    } else {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    }
    payload.assign(size_t(opt.mode.rfind("bulk", 0) == 0 ? 16384 : opt.size), 'x');

    ep = epoll_create1(0);
    t_start = Clock::now();
    double limit = opt.timeout > 0      ? opt.timeout
                   : opt.mode == "idle" ? 120 + opt.hold
                                        : opt.warmup + opt.duration + 10;

    int initial = opt.mode == "idle" ? std::min(opt.count, 256) : opt.conns;
    if (opt.ops > 0)
        initial = std::min(initial, opt.ops);
    if (opt.mode == "resume") {
        initial = 1; // first a full handshake to get a ticket / session ID, then --conns
    }
    for (int i = 0; i < initial; ++i)
        open_conn();
    bool resume_ramped = opt.mode != "resume";

    std::vector<epoll_event> evs(512);
    double ready_at = -1;
    bool printed_ready = false;
    while (true) {
        double t = now_s();
        if (finished)
            break;
        if (t > limit) {
            note_error("overall time limit reached");
            break;
        }
        if (opt.mode == "idle") {
            // ready: every connection attempted, and every live one is open and idle
            if (!printed_ready && int(attempted) >= opt.count &&
                live_count == idle_ready - idle_lost) {
                printf("ready %d\n", idle_ready);
                fflush(stdout);
                printed_ready = true;
                ready_at = t;
            }
            if (printed_ready && t - ready_at >= opt.hold)
                break;
            // keep at most 256 connections in their handshake at once
            while (int(attempted) < opt.count && live_count - idle_ready + idle_lost < 256 &&
                   !finished) {
                if (!open_conn())
                    break;
            }
        } else {
            if (!resume_ramped && saved_session) {
                resume_ramped = true;
                for (int i = 1; i < opt.conns && (opt.ops == 0 || int(attempted) < opt.ops); ++i)
                    open_conn();
            }
            if (!measuring && t >= opt.warmup && !finished && resume_ramped) {
                measuring = true;
                window_begin = Clock::now();
                getrusage(RUSAGE_SELF, &ru_begin);
            }
            const bool ops_done = opt.ops > 0 && live_count == 0 &&
                                  (opt.mode == "bulk-up" || int(attempted) >= opt.ops);
            if (measuring && (ops_done || (opt.ops == 0 && t >= opt.warmup + opt.duration))) {
                window_end = Clock::now();
                getrusage(RUSAGE_SELF, &ru_end);
                measuring = false;
                finished = true;
                break;
            }
            if (live_count == 0 && !finished && (opt.ops == 0 || int(attempted) < opt.ops)) {
                // every connection failed and could not be replaced; try again shortly
                usleep(10000);
                if (!resume_ramped)
                    open_conn();
                else
                    for (int i = 0; i < opt.conns; ++i)
                        open_conn();
            }
        }
        if (opt.mode == "latency" && opt.rate > 0) {
            auto tn = Clock::now();
            for (auto& lc : live) {
                Conn* c = lc.get();
                if (!c || !c->waiting || c->next_send > tn)
                    continue;
                c->waiting = false;
                c->out = payload;
                c->out_off = 0;
                c->expect = payload.size();
                c->t0 = tn;
                step(c);
            }
        }
        int n = epoll_wait(ep, evs.data(), int(evs.size()), opt.rate > 0 ? 1 : 50);
        for (int i = 0; i < n; ++i) {
            int fd = int(evs[i].data.u64 & 0xffffffffu);
            uint32_t gen = uint32_t(evs[i].data.u64 >> 32);
            if (size_t(fd) >= live.size() || !live[fd] || live[fd]->gen != gen)
                continue;
            step(live[fd].get());
        }
    }
    finished = true;
    if (opt.mode == "idle") {
        printf("mode=idle opened=%d lost=%d errors=%llu proto=%s\n", idle_ready, idle_lost,
               (unsigned long long)errors, negotiated.c_str());
        return idle_ready == opt.count ? 0 : 1;
    }
    if (window_end == Clock::time_point{}) {
        window_end = Clock::now();
        getrusage(RUSAGE_SELF, &ru_end);
        if (window_begin == Clock::time_point{})
            window_begin = window_end, ru_begin = ru_end;
    }
    double secs = std::chrono::duration<double>(window_end - window_begin).count();
    if (secs <= 0)
        secs = 1e-9;
    double cpu = 100.0 * (cpu_seconds(ru_end) - cpu_seconds(ru_begin)) / secs;
    printf("mode=%s tls=%s conns=%d secs=%.2f ops=%llu rate=%.1f", opt.mode.c_str(),
           opt.tls.c_str(), opt.conns, secs, (unsigned long long)ops, double(ops) / secs);
    if (opt.mode == "resume")
        printf(" reused=%llu", (unsigned long long)ops_reused);
    if (opt.mode.rfind("bulk", 0) == 0)
        printf(" mbps=%.1f", double(bytes) / secs / 1e6);
    if (opt.mode == "latency") {
        std::sort(lat_us.begin(), lat_us.end());
        printf(" p50_us=%.1f p99_us=%.1f p999_us=%.1f", pct(lat_us, 50), pct(lat_us, 99),
               pct(lat_us, 99.9));
    }
    printf(" errors=%llu cpu=%.1f proto=%s\n", (unsigned long long)errors, cpu,
           negotiated.empty() ? "-" : negotiated.c_str());
    for (auto& c : live)
        if (c) {
            if (c->ssl)
                SSL_free(c->ssl);
            close(c->fd);
        }
    return ops > 0 || bytes > 0 ? 0 : 1;
}
