#pragma once

#include "tlsgate/tls/chunk_bio.hpp"
#include "tlsgate/tls/openssl_ptr.hpp"

#include <cstddef>
#include <string>

namespace tlsgate::tls {

// One TLS connection over an in-memory BIO (pooled chunks), with no I/O of its own: the owner feeds
// it the ciphertext it received, takes the ciphertext it must send, and reads/writes plaintext.
class TlsEngine {
public:
    enum class Status {
        ok,      // progress made (handshake done, bytes read or written)
        want_io, // needs more ciphertext from the peer
        closed,  // the peer sent close_notify
        error,   // fatal; error_reason() says why
    };

    // `pool` supplies the ciphertext buffers (a worker's pool; null: plain allocations).
    TlsEngine(SSL_CTX* ctx, bool is_server, core::ChunkPool* pool = nullptr);
    ~TlsEngine();
    TlsEngine(const TlsEngine&) = delete;
    TlsEngine& operator=(const TlsEngine&) = delete;

    bool valid() const { return ssl_ != nullptr; }
    bool is_server() const { return is_server_; }

    // Client side: the name sent as SNI (empty: none) and the name or IP address the
    // certificate must match (empty: no name check), in addition to the context's check_ip
    // and check_email. An IP address never replaces the context's check_ip: that one is the
    // IP check then (a configured check_host that is another IP is refused at load). With
    // session_resume, also offers the service's last session with a server of that SNI.
    void set_peer_name(const std::string& sni, const std::string& check_host);

    // Ciphertext received from the peer.
    void feed(const char* data, size_t size);
    // The peer closed its TCP stream: further reads see end of file.
    void feed_eof();

    // Ciphertext received from the peer, lent rather than copied: while the Loan lives,
    // handshake() and read() take records straight from `data` (which must stay untouched
    // until then); what they did not take (a partial record) is queued when it ends. This saves
    // a copy of every byte received into a chunk and back out of it.
    class Loan {
    public:
        Loan(TlsEngine& engine, const char* data, size_t size);
        ~Loan();
        Loan(const Loan&) = delete;
        Loan& operator=(const Loan&) = delete;

    private:
        TlsEngine& engine_;
    };

    Status handshake();
    bool handshake_done() const;
    // Whether the handshake resumed a session (ticket or session cache).
    bool session_reused() const;

    // Reads up to `capacity` plaintext bytes into `out`; `read_size` is set on Status::ok.
    Status read(char* out, size_t capacity, size_t& read_size);
    // Encrypts all of `data` (the chunk BIO never refuses a write).
    Status write(const char* data, size_t size);
    // Queues our close_notify.
    void shutdown();
    bool shutdown_sent() const;

    // Ciphertext waiting to be sent to the peer.
    size_t pending_ciphertext() const;
    size_t take_ciphertext(char* out, size_t capacity);
    // The same bytes without copying them (core::ChunkQueue::gather), and dropping them once
    // written from there.
    size_t gather_ciphertext(core::ByteSpan* spans, size_t max) const;
    void consume_ciphertext(size_t size);

    const std::string& error_reason() const { return error_reason_; }
    std::string version() const;
    std::string cipher() const;
    int cipher_bits() const;
    int cipher_alg_bits() const;
    SSL* native() const { return ssl_.get(); }

private:
    Status classify(int ret);

    // Declared before ssl_ so it outlives the BIO that points at it.
    ChunkBioState network_; // ciphertext both ways
    SslPtr ssl_;
    bool is_server_;
    std::string error_reason_;
    std::string sni_; // client: what set_peer_name sent, for the session cache
};

} // namespace tlsgate::tls
