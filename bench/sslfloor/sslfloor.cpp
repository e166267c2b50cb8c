// sslfloor: how much heap OpenSSL itself keeps for one idle server-side TLS connection.
//
// A TLS proxy cannot hold an established connection in less memory than its TLS library's
// own state for it. This program measures that floor: it routes OpenSSL's allocations through
// CRYPTO_set_mem_functions, runs one handshake plus a 64-byte echo between a server SSL (set
// up as the bench's proxies are: cipher B-style policy, one RSA certificate, X25519, record
// buffers released) and a client SSL over memory BIOs, frees the record buffers, and lists
// what the server SSL still holds, by OpenSSL source line. Only allocations made inside the
// server's own calls are counted (not the client's, not the memory BIOs' buffers). "total" is
// what OpenSSL asked for; "heap" adds glibc malloc's chunk header and rounding.
//
// usage: sslfloor CERT.pem KEY.pem [1.2|1.3]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <malloc.h>
#include <map>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <string>
#include <vector>

namespace {

struct Allocation {
    size_t size;
    const char* file;
    int line;
};

bool tracking = false;             // inside a server call
std::map<void*, Allocation>* live; // tracked allocations still alive

void* track_malloc(size_t n, const char* file, int line) {
    void* p = malloc(n);
    if (tracking && p != nullptr) {
        tracking = false; // the map allocates through operator new, not through OpenSSL
        (*live)[p] = {n, file, line};
        tracking = true;
    }
    return p;
}

void* track_realloc(void* old, size_t n, const char* file, int line) {
    const bool was_tracked = old != nullptr && live->count(old) > 0;
    void* p = realloc(old, n);
    if (p != nullptr && (tracking || was_tracked)) {
        const bool saved = tracking;
        tracking = false;
        live->erase(old);
        (*live)[p] = {n, file, line};
        tracking = saved;
    }
    return p;
}

void track_free(void* p, const char*, int) {
    if (p != nullptr) {
        const bool saved = tracking;
        tracking = false;
        live->erase(p);
        tracking = saved;
    }
    free(p);
}

void pump(BIO* from, BIO* to) {
    char buffer[65536];
    int n;
    while ((n = BIO_read(from, buffer, sizeof buffer)) > 0) {
        BIO_write(to, buffer, n);
    }
}

template <typename F> auto as_server(F f) {
    tracking = true;
    auto result = f();
    tracking = false;
    return result;
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: sslfloor CERT.pem KEY.pem [1.2|1.3]\n");
        return 2;
    }
    const bool tls12 = argc > 3 && std::strcmp(argv[3], "1.2") == 0;
    live = new std::map<void*, Allocation>;
    if (CRYPTO_set_mem_functions(track_malloc, track_realloc, track_free) != 1) {
        fprintf(stderr, "CRYPTO_set_mem_functions failed\n");
        return 1;
    }
    SSL_CTX* server_ctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX* client_ctx = SSL_CTX_new(TLS_client_method());
    if (SSL_CTX_use_certificate_chain_file(server_ctx, argv[1]) != 1 ||
        SSL_CTX_use_PrivateKey_file(server_ctx, argv[2], SSL_FILETYPE_PEM) != 1) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    SSL_CTX_set_options(server_ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION |
                                        SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(server_ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_cipher_list(server_ctx, "ECDHE-RSA-AES128-GCM-SHA256");
    SSL_CTX_set_ciphersuites(server_ctx, "TLS_AES_128_GCM_SHA256");
    SSL_CTX_set1_groups_list(server_ctx, "X25519");
    SSL_CTX_set1_groups_list(client_ctx, "X25519");
    SSL_CTX_set_max_proto_version(client_ctx, tls12 ? TLS1_2_VERSION : TLS1_3_VERSION);

    // Twice: the first connection makes what OpenSSL creates once per context or process
    // (fetched algorithms, ticket keys), so only the second is the per-connection cost.
    for (int round = 0; round < 2; ++round) {
        live->clear();
        SSL* server = as_server([&] { return SSL_new(server_ctx); });
        SSL* client = SSL_new(client_ctx);
        BIO* server_in = BIO_new(BIO_s_mem());
        BIO* server_out = BIO_new(BIO_s_mem());
        BIO* client_in = BIO_new(BIO_s_mem());
        BIO* client_out = BIO_new(BIO_s_mem());
        SSL_set_bio(server, server_in, server_out);
        SSL_set_bio(client, client_in, client_out);
        SSL_set_accept_state(server);
        SSL_set_connect_state(client);
        for (int step = 0; step < 10 && !SSL_is_init_finished(server); ++step) {
            SSL_do_handshake(client);
            pump(client_out, server_in);
            as_server([&] { return SSL_do_handshake(server); });
            pump(server_out, client_in);
        }
        char echo[64] = {};
        SSL_write(client, echo, sizeof echo);
        pump(client_out, server_in);
        const int n = as_server([&] { return SSL_read(server, echo, sizeof echo); });
        as_server([&] { return SSL_write(server, echo, n > 0 ? n : 0); });
        pump(server_out, client_in);
        SSL_read(client, echo, sizeof echo);
        as_server([&] { return SSL_free_buffers(server); });
        if (!SSL_is_init_finished(server)) {
            fprintf(stderr, "handshake failed\n");
            ERR_print_errors_fp(stderr);
            return 1;
        }
        if (round == 1) {
            // The memory BIOs' byte buffers grew inside server calls; they are this harness's
            // (tlsgate's own BIO keeps nothing while idle), so leave them out.
            for (BIO* bio : {server_in, server_out}) {
                BUF_MEM* mem = nullptr;
                BIO_get_mem_ptr(bio, &mem);
                if (mem != nullptr) {
                    live->erase(mem->data);
                }
            }
            std::map<std::string, std::pair<size_t, int>> by_line;
            size_t total = 0;
            size_t heap = 0; // what glibc's malloc really sets aside: chunk header and rounding
            for (const auto& [pointer, a] : *live) {
                heap += malloc_usable_size(pointer) + sizeof(size_t);
                auto& entry = by_line[std::string(a.file != nullptr ? a.file : "?") + ":" +
                                      std::to_string(a.line)];
                entry.first += a.size;
                entry.second++;
                total += a.size;
            }
            std::vector<std::pair<std::string, std::pair<size_t, int>>> rows(by_line.begin(),
                                                                             by_line.end());
            std::sort(rows.begin(), rows.end(),
                      [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
            printf("%8s %6s  %s\n", "bytes", "allocs", "OpenSSL source line");
            for (const auto& [where, sum] : rows) {
                printf("%8zu %6d  %s\n", sum.first, sum.second, where.c_str());
            }
            printf("total=%zu heap=%zu allocations=%zu proto=%s cipher=%s\n", total, heap,
                   live->size(), SSL_get_version(server), SSL_get_cipher_name(server));
        }
        SSL_free(server);
        SSL_free(client);
    }
    SSL_CTX_free(server_ctx);
    SSL_CTX_free(client_ctx);
    return 0;
}
