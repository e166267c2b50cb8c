#pragma once

#include "tlsgate/core/chunk_pool.hpp"
#include "tlsgate/core/result.hpp"
#include "tlsgate/net/stream.hpp"
#include "tlsgate/tls/engine.hpp"

#include <cstddef>
#include <memory>
#include <openssl/ssl.h>
#include <string>
#include <uv.h>

namespace tlsgate::proxy {

class Transport;

// How a connection ends: a graceful close says close_notify and lets queued bytes leave
// (bounded by close_timeout); an abortive one closes at once, with a TCP RST where it can.
enum class CloseMode { graceful, abortive };

// What a transport tells the session above it. Only plaintext comes up: the TLS records,
// the handshake and close_notify stay inside the transport.
class TransportHandler {
public:
    virtual void on_transport_plaintext(Transport& end, const char* data, size_t size) = 0;
    virtual void on_transport_handshake_done(Transport& end) = 0;
    // `reason` is "peer closed" or the TLS library's reason.
    virtual void on_transport_handshake_failed(Transport& end, const std::string& reason) = 0;
    // close_notify arrived: the peer sends no more.
    virtual void on_transport_close_notify(Transport& end) = 0;
    // The end cannot go on (TLS error, write failure); `reason` names the side.
    virtual void on_transport_failed(Transport& end, const std::string& reason, CloseMode mode) = 0;

protected:
    ~TransportHandler() = default;
};

// One end of a session: a stream that speaks plaintext, or TLS once start_tls() ran. The
// session writes plaintext with send() and hands received bytes to receive(); the transport
// encrypts, decrypts, drives the handshake and writes the ciphertext (one flush for all).
//
// The stream's events still go to the session (it is the stream's handler), since they
// concern the connection as a whole: connect, EOF, errors, shutdown and close.
class Transport {
public:
    enum class Side { client, backend }; // which end of the session this is

    // Whether the peer still sends: until EOF or close_notify. `truncated`: EOF on a TLS
    // end without close_notify.
    enum class Input { open, finished, truncated };

    Transport(uv_loop_t* loop, net::Address::Kind kind, net::StreamHandler& stream_handler,
              TransportHandler& handler, net::ReadBuffer& read_buffer,
              net::ReadBuffer& plaintext_buffer, core::ChunkPool& pool, Side side);
    Transport(const Transport&) = delete;
    Transport& operator=(const Transport&) = delete;

    Side side() const { return side_; }
    bool is_client() const { return side_ == Side::client; }
    const char* side_name() const { return is_client() ? "client" : "backend"; }
    net::Stream& stream() { return stream_; }
    const net::Stream& stream() const { return stream_; }

    // TLS from here on: the client end answers as a TLS server, the backend end speaks as a
    // TLS client (with `sni` and `check_host`; empty: none). A TLS client sends its
    // ClientHello at once.
    Result<> start_tls(SSL_CTX* ctx, const std::string& sni, const std::string& check_host);
    bool has_tls() const { return tls_ != nullptr; }
    bool tls_up() const { return tls_ && tls_->handshake_done(); }
    bool in_handshake() const { return tls_ && !tls_->handshake_done(); }
    // After start_tls() only.
    tls::TlsEngine& tls() { return *tls_; }
    const tls::TlsEngine& tls() const { return *tls_; }

    // Bytes from the stream: plaintext goes up as it is; TLS records are decrypted (and the
    // handshake driven) and what they carried goes up.
    void receive(const char* data, size_t size);
    // Runs the handshake and reads whatever plaintext the engine holds.
    void drive();
    // Plaintext to the peer. False when it did not all go out: a failure (reported to
    // on_transport_failed), or a TLS end whose stream is already closing or shut down.
    bool send(const char* data, size_t size);
    // Writes the engine's pending ciphertext (handshake, records, alerts). False when it
    // could not (the stream is closing or shut down, or the write failed: reported).
    bool flush();
    // close_notify, once, where TLS is up.
    void send_close_notify();
    // The session is closing: nothing more goes up from this end.
    void stop_delivery() { delivering_ = false; }

    Input input() const { return input_; }
    bool input_done() const { return input_ != Input::open; }
    void finish_input(Input how) { input_ = how; }
    bool output_done() const { return output_done_; }
    void set_output_done() { output_done_ = true; }
    // A fresh connection on this end (exec retry): the peer's ends are open again.
    void reset_ends() {
        input_ = Input::open;
        output_done_ = false;
    }

private:
    net::Stream stream_;
    TransportHandler& handler_;
    net::ReadBuffer& plaintext_buffer_;
    core::ChunkPool& pool_;
    Side side_;
    std::unique_ptr<tls::TlsEngine> tls_; // set once TLS starts on this end
    Input input_ = Input::open;
    bool output_done_ = false; // our shutdown toward the peer completed
    bool delivering_ = true;
};

} // namespace tlsgate::proxy
