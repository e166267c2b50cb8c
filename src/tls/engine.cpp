#include "tlsgate/tls/engine.hpp"

#include "tlsgate/tls/client_hello.hpp"
#include "tlsgate/tls/context_data.hpp"
#include "tlsgate/tls/peer_checks.hpp"

#include <climits>
#include <openssl/buffer.h>
#include <openssl/err.h>
#include <openssl/x509_vfy.h>

namespace tlsgate::tls {

TlsEngine::TlsEngine(SSL_CTX* ctx, bool is_server, core::ChunkPool* pool)
    : network_(pool), ssl_(SSL_new(ctx)), is_server_(is_server) {
    if (!ssl_) {
        error_reason_ = take_openssl_errors();
        return;
    }
    BIO* bio = new_chunk_bio(network_);
    if (bio == nullptr) {
        error_reason_ = "out of memory for the TLS buffers";
        ssl_.reset();
        return;
    }
    SSL_set_bio(ssl_.get(), bio, bio); // one reference, used for reading and writing
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
    // OpenSSL keeps one IP per check: setting ours would silently drop a configured check_ip,
    // so a configured one stays and is the IP check.
    if (ip_address_bytes(check_host).empty()) {
        SSL_set1_host(ssl_.get(), check_host.c_str());
        return;
    }
    char* configured_ip = X509_VERIFY_PARAM_get1_ip_asc(param);
    const bool keep_configured = configured_ip != nullptr;
    OPENSSL_free(configured_ip);
    if (!keep_configured) {
        X509_VERIFY_PARAM_set1_ip_asc(param, check_host.c_str());
    }
}

void TlsEngine::feed(const char* data, size_t size) {
    network_.in.append(data, size);
}

TlsEngine::Loan::Loan(TlsEngine& engine, const char* data, size_t size) : engine_(engine) {
    ChunkBioState& state = engine_.network_;
    state.keep_lent(); // a loan inside a loan would come after the outer one's bytes
    state.lent = data;
    state.lent_size = size;
}

TlsEngine::Loan::~Loan() {
    engine_.network_.keep_lent();
}

void TlsEngine::feed_eof() {
    network_.eof = true;
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
        if (const char* refusal = client_hello_refusal(ssl_.get())) {
            error_reason_ = std::string(refusal) + " (" + error_reason_ + ")";
        }
        return Status::error;
    }
}

TlsEngine::Status TlsEngine::handshake() {
    ERR_clear_error();
    const int ret = SSL_do_handshake(ssl_.get());
    if (ret == 1) {
        // SSL_MODE_RELEASE_BUFFERS frees the record buffers only once application data went
        // through; an idle connection would keep the handshake's. OpenSSL reallocates them
        // for the next record.
        SSL_free_buffers(ssl_.get());
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
    if (status == Status::want_io && network_.readable() == 0) {
        SSL_free_buffers(ssl_.get()); // a no-op while a partial record is buffered
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
    return network_.out.size();
}

size_t TlsEngine::take_ciphertext(char* out, size_t capacity) {
    return network_.out.read(out, capacity);
}

size_t TlsEngine::gather_ciphertext(core::ByteSpan* spans, size_t max) const {
    return network_.out.gather(spans, max);
}

void TlsEngine::consume_ciphertext(size_t size) {
    network_.out.consume(size);
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
