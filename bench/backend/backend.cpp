// bench backend: a single-threaded epoll plaintext server used behind every TLS proxy.
// The first byte a client sends picks the mode for that connection:
//   'S' -> sink   (read and discard everything; for upload throughput)
//   'R' -> source (send a pattern as fast as the peer reads; for download throughput)
//   anything else -> echo (that byte included)
// Usage: backend [--port P] [--port-file FILE]; with port 0 (default) the kernel picks an
// ephemeral port on 127.0.0.1, printed as "port N" on stdout (and written to FILE).
#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

namespace {
enum Mode : unsigned char { Unknown, Echo, Sink, Source };
struct Conn {
    Mode mode = Unknown;
    bool open = false;
    std::string pending; // echo bytes not yet written
};
std::vector<Conn> conns;
int ep;
char buf[65536];
char pattern[65536];

void set_events(int fd, uint32_t ev) {
    epoll_event e{};
    e.events = ev;
    e.data.fd = fd;
    epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e);
}
void close_conn(int fd) {
    conns[fd].open = false;
    conns[fd].pending.clear();
    conns[fd].pending.shrink_to_fit();
    close(fd);
}
void flush_echo(int fd) {
    Conn& c = conns[fd];
    while (!c.pending.empty()) {
        ssize_t n = write(fd, c.pending.data(), c.pending.size());
        if (n < 0) {
            if (errno == EAGAIN)
                break;
            close_conn(fd);
            return;
        }
        c.pending.erase(0, size_t(n));
    }
    set_events(fd, c.pending.empty() ? EPOLLIN : EPOLLOUT);
}
void on_read(int fd) {
    Conn& c = conns[fd];
    for (int i = 0; i < 16; ++i) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n == 0 || (n < 0 && errno != EAGAIN)) {
            close_conn(fd);
            return;
        }
        if (n < 0)
            return;
        const char* p = buf;
        if (c.mode == Unknown) {
            if (buf[0] == 'S') {
                c.mode = Sink;
            } else if (buf[0] == 'R') {
                c.mode = Source;
                set_events(fd, EPOLLIN | EPOLLOUT);
            } else {
                c.mode = Echo;
            }
            if (c.mode != Echo)
                ++p, --n;
        }
        if (c.mode == Echo && n > 0) {
            ssize_t w = c.pending.empty() ? write(fd, p, size_t(n)) : 0;
            if (w < 0 && errno != EAGAIN) {
                close_conn(fd);
                return;
            }
            if (w < 0)
                w = 0;
            if (w < n) {
                c.pending.append(p + w, size_t(n - w));
                set_events(fd, EPOLLOUT); // stop reading until the echo is written
                return;
            }
        }
        if (size_t(n) + (p - buf) < sizeof buf)
            return;
    }
}
void on_write(int fd) {
    Conn& c = conns[fd];
    if (c.mode == Echo) {
        flush_echo(fd);
    } else if (c.mode == Source) {
        for (int i = 0; i < 16; ++i) {
            ssize_t n = write(fd, pattern, sizeof pattern);
            if (n < 0) {
                if (errno != EAGAIN)
                    close_conn(fd);
                return;
            }
        }
    }
}
} // namespace

int main(int argc, char** argv) {
    int port = 0;
    const char* port_file = nullptr;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--port" && i + 1 < argc)
            port = atoi(argv[++i]);
        else if (a == "--port-file" && i + 1 < argc)
            port_file = argv[++i];
        else {
            fprintf(stderr, "usage: backend [--port P] [--port-file FILE]\n");
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    conns.resize(rl.rlim_cur + 1);
    memset(pattern, 'r', sizeof pattern);

    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(uint16_t(port));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(ls, (sockaddr*)&sa, sizeof sa) < 0 || listen(ls, 4096) < 0) {
        perror("backend: bind/listen");
        return 1;
    }
    socklen_t sl = sizeof sa;
    getsockname(ls, (sockaddr*)&sa, &sl);
    printf("port %d\n", ntohs(sa.sin_port));
    fflush(stdout);
    if (port_file) {
        FILE* f = fopen(port_file, "w");
        if (f)
            fprintf(f, "%d\n", ntohs(sa.sin_port)), fclose(f);
    }
    ep = epoll_create1(0);
    epoll_event e{};
    e.events = EPOLLIN;
    e.data.fd = ls;
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &e);
    epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0 && errno == EINTR)
            continue;
        for (int i = 0; i < n; ++i) {
            int fd = evs[i].data.fd;
            if (fd == ls) {
                for (;;) {
                    int c = accept4(ls, nullptr, nullptr, SOCK_NONBLOCK);
                    if (c < 0)
                        break;
                    if (size_t(c) >= conns.size()) {
                        close(c);
                        continue;
                    }
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    conns[c] = Conn{};
                    conns[c].open = true;
                    epoll_event ce{};
                    ce.events = EPOLLIN;
                    ce.data.fd = c;
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
                }
                continue;
            }
            if (!conns[fd].open)
                continue;
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                on_read(fd);
            if (conns[fd].open && (evs[i].events & EPOLLOUT))
                on_write(fd);
        }
    }
}
