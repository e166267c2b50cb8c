#include "tlsgate/tls/engine.hpp"

#include "tlsgate/tls/context_data.hpp"

#include <climits>
#include <openssl/buffer.h>
#include <openssl/err.h>
#include <openssl/x509_vfy.h>

namespace tlsgate::tls {

TlsEngine::TlsEngine(SSL_CTX* ctx, bool is_server) : ssl_(SSL_new(ctx)), is_server_(is_server) {
    if (!ssl_) {
        error_reason_ = take_openssl_errors();
        return;
    }
    network_in_ = BIO_new(BIO_s_mem());
    network_out_ = BIO_new(BIO_s_mem());
    // An empty input BIO means "no data yet", not end of file, until feed_eof().
    BIO_set_mem_eof_return(network_in_, -1);
    SSL_set_bio(ssl_.get(), network_in_, network_out_);
    if (is_server) {
        SSL_set_accept_state(ssl_.get());
    } else {
        SSL_set_connect_state(ssl_.get());
    }
}

TlsEngine::~TlsEngine() {
    // SSL_free throws the session away (server: out of the cache; client: not resumable)
    // unless we sent close_notify, as TLS 1.0 demanded. TLS 1.2 dropped that rule (RFC 5246,
    // F.1.4) and a mail client that just closes its socket is common, so a connection that
    // ends without a fatal error keeps its session. After a fatal alert OpenSSL has already
    // invalidated the session itself.
    if (ssl_ && SSL_is_init_finished(ssl_.get()) == 1) {
        SSL_set_shutdown(ssl_.get(), SSL_get_shutdown(ssl_.get()) | SSL_SENT_SHUTDOWN);
    }
}

void TlsEngine::set_peer_name(const std::string& sni, const std::string& check_host) {
    if (!sni.empty()) {
        SSL_set_tlsext_host_name(ssl_.get(), sni.c_str());
    }
    // session_resume: offer the last session this service got from a server of that name.
    const ContextData* data = context_data(SSL_get_SSL_CTX(ssl_.get()));
    if (!is_server_ && data != nullptr && data->client_sessions) {
        sni_ = sni;
        set_connection_sni(ssl_.get(), &sni_);
        if (SslSessionPtr session = data->client_sessions->find(sni)) {
            SSL_set_session(ssl_.get(), session.get()); // takes its own reference
        }
    }
    if (check_host.empty()) {
        return;
    }
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl_.get());
    // An IP address is matched against the certificate's IP SANs, a name against its DNS SANs.
    if (X509_VERIFY_PARAM_set1_ip_asc(param, check_host.c_str()) != 1) {
        ERR_clear_error();
        SSL_set1_host(ssl_.get(), check_host.c_str());
    }
}

void TlsEngine::feed(const char* data, size_t size) {
    while (size > 0) {
        const int chunk = size > INT_MAX ? INT_MAX : static_cast<int>(size);
        const int written = BIO_write(network_in_, data, chunk);
        if (written <= 0) {
            return;
        }
        data += written;
        size -= static_cast<size_t>(written);
    }
}

void TlsEngine::feed_eof() {
    BIO_set_mem_eof_return(network_in_, 0);
}

TlsEngine::Status TlsEngine::classify(int ret) {
    switch (SSL_get_error(ssl_.get(), ret)) {
    case SSL_ERROR_NONE:
        return Status::ok;
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        return Status::want_io;
    case SSL_ERROR_ZERO_RETURN:
        return Status::closed;
    case SSL_ERROR_SYSCALL: {
        // With memory BIOs this is an end of file the peer gave without close_notify.
        error_reason_ = take_openssl_errors();
        if (error_reason_.empty()) {
            error_reason_ = "connection closed without close_notify";
        }
        return Status::error;
    }
    default:
        error_reason_ = take_openssl_errors();
        if (error_reason_.empty()) {
            error_reason_ = "TLS protocol error";
        }
        return Status::error;
    }
}

TlsEngine::Status TlsEngine::handshake() {
    ERR_clear_error();
    const int ret = SSL_do_handshake(ssl_.get());
    if (ret == 1) {
        return Status::ok;
    }
    const Status status = classify(ret);
    const long verify = SSL_get_verify_result(ssl_.get());
    // A client names every certificate problem; a server only when the handshake failed on
    // the client's certificate (request_cert lets others through with a recorded error).
    const bool on_certificate =
        !is_server_ || error_reason_.find("certificate verify failed") != std::string::npos;
    if (status == Status::error && verify != X509_V_OK && on_certificate) {
        // Name the certificate problem: expired, unknown CA, name mismatch, ...
        error_reason_ =
            std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
    }
    return status;
}

bool TlsEngine::session_reused() const {
    return SSL_session_reused(ssl_.get()) == 1;
}

bool TlsEngine::handshake_done() const {
    return SSL_is_init_finished(ssl_.get()) == 1;
}

TlsEngine::Status TlsEngine::read(char* out, size_t capacity, size_t& read_size) {
    ERR_clear_error();
    read_size = 0;
    const int ret = SSL_read_ex(ssl_.get(), out, capacity, &read_size);
    if (ret == 1) {
        return Status::ok;
    }
    const Status status = classify(ret);
    if (status == Status::want_io && BIO_ctrl_pending(network_in_) == 0) {
        network_in_ = shrink_if_large(network_in_, true);
    }
    return status;
}

TlsEngine::Status TlsEngine::write(const char* data, size_t size) {
    while (size > 0) {
        ERR_clear_error();
        size_t written = 0;
        const int ret = SSL_write_ex(ssl_.get(), data, size, &written);
        if (ret != 1) {
            return classify(ret);
        }
        data += written;
        size -= written;
    }
    return Status::ok;
}

void TlsEngine::shutdown() {
    if (!shutdown_sent()) {
        ERR_clear_error();
        SSL_shutdown(ssl_.get());
        ERR_clear_error();
    }
}

bool TlsEngine::shutdown_sent() const {
    return (SSL_get_shutdown(ssl_.get()) & SSL_SENT_SHUTDOWN) != 0;
}

size_t TlsEngine::pending_ciphertext() const {
    return BIO_ctrl_pending(network_out_);
}

size_t TlsEngine::take_ciphertext(char* out, size_t capacity) {
    size_t taken = 0;
    if (BIO_read_ex(network_out_, out, capacity, &taken) != 1) {
        return 0;
    }
    if (BIO_ctrl_pending(network_out_) == 0) {
        network_out_ = shrink_if_large(network_out_, false);
    }
    return taken;
}

BIO* TlsEngine::shrink_if_large(BIO* bio, bool input) {
    // A memory BIO keeps the largest buffer it ever held (a handshake flight, a 64 KiB read)
    // for the life of the connection. Once it is empty, a fresh BIO returns that memory: an
    // idle connection then costs little more than the SSL object itself.
    BUF_MEM* buffer = nullptr;
    BIO_get_mem_ptr(bio, &buffer);
    if (buffer == nullptr || buffer->max <= kKeepBufferBytes) {
        return bio;
    }
    BIO* fresh = BIO_new(BIO_s_mem());
    if (fresh == nullptr) {
        return bio;
    }
    if (input) {
        BIO_set_mem_eof_return(fresh, eof_fed_ ? 0 : -1);
        SSL_set0_rbio(ssl_.get(), fresh); // frees the old one
    } else {
        SSL_set0_wbio(ssl_.get(), fresh);
    }
    return fresh;
}

std::string TlsEngine::version() const {
    return SSL_get_version(ssl_.get());
}

std::string TlsEngine::cipher() const {
    const char* name = SSL_get_cipher_name(ssl_.get());
    return name != nullptr ? name : "NONE";
}

int TlsEngine::cipher_bits() const {
    int alg_bits = 0;
    return SSL_get_cipher_bits(ssl_.get(), &alg_bits);
}

int TlsEngine::cipher_alg_bits() const {
    int alg_bits = 0;
    SSL_get_cipher_bits(ssl_.get(), &alg_bits);
    return alg_bits;
}

} // namespace tlsgate::tls
