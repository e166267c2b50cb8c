#include "tlsgate/proxy/transport.hpp"

#include <uv.h>

namespace tlsgate::proxy {

namespace {

// A TLS engine's outgoing ciphertext as something a stream writes from.
class CiphertextSource final : public net::WriteSource {
public:
    explicit CiphertextSource(tls::TlsEngine& engine) : engine_(engine) {}
    size_t gather(core::ByteSpan* spans, size_t max) const override {
        return engine_.gather_ciphertext(spans, max);
    }
    void consume(size_t size) override { engine_.consume_ciphertext(size); }
    size_t take(char* out, size_t capacity) override {
        return engine_.take_ciphertext(out, capacity);
    }

private:
    tls::TlsEngine& engine_;
};

} // namespace

Transport::Transport(uv_loop_t* loop, net::Address::Kind kind, net::StreamHandler& stream_handler,
                     TransportHandler& handler, net::ReadBuffer& read_buffer,
                     net::ReadBuffer& plaintext_buffer, core::ChunkPool& pool, Side side)
    : stream_(loop, kind, stream_handler, read_buffer, static_cast<int>(side)), handler_(handler),
      plaintext_buffer_(plaintext_buffer), pool_(pool), side_(side) {}

Result<> Transport::start_tls(SSL_CTX* ctx, const std::string& sni, const std::string& check_host) {
    const bool server_role = is_client();
    tls_ = std::make_unique<tls::TlsEngine>(ctx, server_role, &pool_);
    if (!tls_->valid()) {
        return Error{"TLS setup failed: " + tls_->error_reason()};
    }
    if (!server_role) {
        tls_->set_peer_name(sni, check_host);
    }
    return {};
}

void Transport::receive(const char* data, size_t size) {
    if (!tls_) {
        handler_.on_transport_plaintext(*this, data, size);
        return;
    }
    // `data` is the loop's read buffer: no other read can touch it during this call.
    const tls::TlsEngine::Loan loan(*tls_, data, size);
    drive();
}

void Transport::drive() {
    if (!tls_->handshake_done()) {
        const auto status = tls_->handshake();
        flush();
        if (status == tls::TlsEngine::Status::want_io) {
            return;
        }
        if (status != tls::TlsEngine::Status::ok) {
            handler_.on_transport_handshake_failed(*this, status == tls::TlsEngine::Status::closed
                                                              ? "peer closed"
                                                              : tls_->error_reason());
            return;
        }
        handler_.on_transport_handshake_done(*this);
        if (!delivering_) {
            return;
        }
    }
    char* buffer = plaintext_buffer_.bytes;
    while (!input_done() && delivering_) {
        size_t size = 0;
        const auto status = tls_->read(buffer, net::ReadBuffer::kSize, size);
        if (status == tls::TlsEngine::Status::ok) {
            handler_.on_transport_plaintext(*this, buffer, size);
        } else if (status == tls::TlsEngine::Status::want_io) {
            break;
        } else if (status == tls::TlsEngine::Status::closed) {
            handler_.on_transport_close_notify(*this);
        } else {
            flush();
            handler_.on_transport_failed(
                *this, std::string(side_name()) + " TLS error: " + tls_->error_reason(),
                CloseMode::graceful);
            return;
        }
    }
    // Post-handshake messages (tickets, key updates, alerts) leave here.
    flush();
}

bool Transport::send(const char* data, size_t size) {
    if (!tls_) {
        if (int rc = stream_.write(data, size); rc != 0) {
            handler_.on_transport_failed(
                *this, std::string(side_name()) + " write failed: " + uv_strerror(rc),
                CloseMode::abortive);
            return false;
        }
        return true;
    }
    if (!tls_->handshake_done()) {
        // The other end is not read while a handshake runs, so this is only a peer that talks
        // unasked at the worst moment.
        handler_.on_transport_failed(*this,
                                     "data arrived for an end whose TLS handshake is still running",
                                     CloseMode::graceful);
        return false;
    }
    if (tls_->write(data, size) != tls::TlsEngine::Status::ok) {
        handler_.on_transport_failed(*this, "TLS error: " + tls_->error_reason(),
                                     CloseMode::abortive);
        return false;
    }
    return flush();
}

bool Transport::flush() {
    const size_t pending = tls_ ? tls_->pending_ciphertext() : 0;
    if (pending == 0) {
        return true;
    }
    if (stream_.closing() || stream_.shutdown_requested()) {
        return false;
    }
    CiphertextSource source(*tls_);
    if (int rc = stream_.write_from(source, pending); rc != 0) {
        handler_.on_transport_failed(*this,
                                     std::string(side_name()) + " write failed: " + uv_strerror(rc),
                                     CloseMode::abortive);
        return false;
    }
    return true;
}

void Transport::send_close_notify() {
    if (!tls_up() || tls_->shutdown_sent()) {
        return;
    }
    tls_->shutdown();
    flush();
}

} // namespace tlsgate::proxy
