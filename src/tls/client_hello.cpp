#include "tlsgate/tls/client_hello.hpp"

#include "tlsgate/log/log.hpp"
#include "tlsgate/tls/context_data.hpp"
#include "tlsgate/tls/sni_router.hpp"

#include <fmt/format.h>
#include <string>

namespace tlsgate::tls {
namespace {

constexpr size_t kMaxHostName = 253; // RFC 1035 (without the trailing dot)
constexpr size_t kMaxLabel = 63;

bool ldh(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

void free_refusal(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
    delete static_cast<std::string*>(ptr);
}

// Why a ClientHello was refused, on the SSL for the session's log line; freed with the SSL.
int refusal_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, free_refusal);
    return index;
}

int refuse(SSL* ssl, int* alert, int alert_code, std::string reason) {
    delete static_cast<std::string*>(SSL_get_ex_data(ssl, refusal_index()));
    SSL_set_ex_data(ssl, refusal_index(), new std::string(std::move(reason)));
    *alert = alert_code;
    return SSL_CLIENT_HELLO_ERROR;
}

bool known_name(const ContextData& data, std::string_view name) {
    if (data.sni_router != nullptr && data.sni_router->match(name) >= 0) {
        return true;
    }
    for (const auto& own : data.own_names) {
        if (sni_matches(own, name)) {
            return true;
        }
    }
    return false;
}

int on_client_hello(SSL* ssl, int* alert, void*) {
    std::string_view name;
    const unsigned char* body = nullptr;
    size_t size = 0;
    if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &body, &size) == 1) {
        const auto parsed = parse_server_name_extension(body, size);
        if (!parsed) {
            return refuse(ssl, alert, SSL_AD_DECODE_ERROR, "malformed server_name extension");
        }
        name = *parsed;
        if (!name.empty() && !valid_host_name(name)) {
            return refuse(ssl, alert, SSL_AD_UNRECOGNIZED_NAME,
                          fmt::format("invalid server name \"{}\"", log::escape(name)));
        }
    }
    if (SniRouter::chosen(ssl) >= 0) {
        return SSL_CLIENT_HELLO_SUCCESS; // a second ClientHello (after a HelloRetryRequest)
    }
    const ContextData* data = context_data(SSL_get_SSL_CTX(ssl));
    if (data == nullptr || name.empty()) {
        return SSL_CLIENT_HELLO_SUCCESS;
    }
    // Before OpenSSL looks for a session to resume: the child's session id context must be
    // the one a ticket or cached session is checked against, or a session made where no
    // client certificate was asked for would open a child that requires one.
    if (data->sni_router != nullptr && data->sni_router->route(ssl, name) >= 0) {
        return SSL_CLIENT_HELLO_SUCCESS;
    }
    if (data->sni_policy == SniPolicy::known_names && !known_name(*data, name)) {
        return refuse(ssl, alert, SSL_AD_UNRECOGNIZED_NAME,
                      fmt::format("server name \"{}\" matches no configured name (strict_sni)",
                                  log::escape(name)));
    }
    return SSL_CLIENT_HELLO_SUCCESS;
}

// The client's ALPN list (wire format, as OpenSSL checked it) as "a", "b" for the log.
std::string describe_alpn(const unsigned char* in, unsigned int size) {
    std::string out;
    for (unsigned int at = 0; at < size && in[at] <= size - at - 1; at += 1u + in[at]) {
        out += fmt::format(
            "{}\"{}\"", out.empty() ? "" : ", ",
            log::escape(std::string_view(reinterpret_cast<const char*>(in + at + 1), in[at]), 64));
    }
    return out;
}

int on_alpn(SSL* ssl, const unsigned char** out, unsigned char* out_size, const unsigned char* in,
            unsigned int in_size, void*) {
    const ContextData* data = context_data(SSL_get_SSL_CTX(ssl));
    if (data == nullptr || data->alpn.empty()) {
        return SSL_TLSEXT_ERR_NOACK; // an SNI child without a protocol of its own
    }
    const std::string& want = data->alpn;
    for (unsigned int at = 0; at < in_size && in[at] <= in_size - at - 1; at += 1u + in[at]) {
        if (std::string_view(reinterpret_cast<const char*>(in + at + 1), in[at]) == want) {
            *out = in + at + 1;
            *out_size = in[at];
            return SSL_TLSEXT_ERR_OK;
        }
    }
    int alert = 0;
    refuse(ssl, &alert, SSL_AD_NO_APPLICATION_PROTOCOL,
           fmt::format("ALPN offers no \"{}\" (offered: {})", want, describe_alpn(in, in_size)));
    return SSL_TLSEXT_ERR_ALERT_FATAL; // no_application_protocol (RFC 7301, 3.2)
}

} // namespace

void require_known_server_names(SSL_CTX* ctx) {
    attach_context_data(ctx).sni_policy = SniPolicy::known_names;
}

void require_alpn(SSL_CTX* ctx, std::string_view protocol) {
    refusal_index();
    attach_context_data(ctx).alpn = std::string(protocol);
    SSL_CTX_set_alpn_select_cb(ctx, on_alpn, nullptr);
}

bool valid_host_name(std::string_view name) {
    if (!name.empty() && name.back() == '.') {
        name.remove_suffix(1);
    }
    if (name.empty() || name.size() > kMaxHostName) {
        return false;
    }
    size_t label_start = 0;
    for (size_t i = 0; i <= name.size(); ++i) {
        if (i < name.size() && name[i] != '.') {
            if (!ldh(name[i])) {
                return false;
            }
            continue;
        }
        const std::string_view label = name.substr(label_start, i - label_start);
        if (label.empty() || label.size() > kMaxLabel || label.front() == '-' ||
            label.back() == '-') {
            return false;
        }
        label_start = i + 1;
    }
    return true;
}

std::optional<std::string_view> parse_server_name_extension(const unsigned char* body,
                                                            size_t size) {
    const auto u16 = [&](size_t at) { return static_cast<size_t>(body[at] << 8 | body[at + 1]); };
    if (size < 2 || u16(0) != size - 2 || size == 2) {
        return std::nullopt; // ServerNameList server_name_list<1..2^16-1>
    }
    std::optional<std::string_view> host_name;
    for (size_t at = 2; at < size;) {
        if (size - at < 3) {
            return std::nullopt;
        }
        const unsigned type = body[at];
        const size_t length = u16(at + 1);
        at += 3;
        if (length > size - at) {
            return std::nullopt;
        }
        if (type == TLSEXT_NAMETYPE_host_name) {
            if (host_name || length == 0) {
                return std::nullopt; // one host_name at most, HostName<1..2^16-1>
            }
            host_name = std::string_view(reinterpret_cast<const char*>(body + at), length);
        }
        at += length;
    }
    return host_name.value_or(std::string_view());
}

void install_client_hello_checks(SSL_CTX* ctx) {
    refusal_index(); // made here, at start-up, rather than on a worker's first handshake
    attach_context_data(ctx);
    SSL_CTX_set_client_hello_cb(ctx, on_client_hello, nullptr);
}

const char* client_hello_refusal(const SSL* ssl) {
    const auto* reason = static_cast<const std::string*>(SSL_get_ex_data(ssl, refusal_index()));
    return reason != nullptr ? reason->c_str() : nullptr;
}

} // namespace tlsgate::tls
