#include "tlsgate/tls/ticket_keys.hpp"

#include "tlsgate/log/log.hpp"
#include "tlsgate/tls/context_data.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <fstream>
#include <limits>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <sstream>
#include <sys/stat.h>

namespace tlsgate::tls {
namespace {

constexpr size_t kKeyFileBytes = 80; // 16 name + 32 HMAC + 32 AES

int hex_digit(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

// Decodes hexadecimal digits; nullopt on an odd length or any other character.
std::optional<std::vector<unsigned char>> decode_hex(std::string_view text) {
    if (text.size() % 2 != 0) {
        return std::nullopt;
    }
    std::vector<unsigned char> bytes;
    bytes.reserve(text.size() / 2);
    for (size_t i = 0; i < text.size(); i += 2) {
        const int high = hex_digit(text[i]);
        const int low = hex_digit(text[i + 1]);
        if (high < 0 || low < 0) {
            return std::nullopt;
        }
        bytes.push_back(static_cast<unsigned char>(high * 16 + low));
    }
    return bytes;
}

std::string_view trim(std::string_view text) {
    const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
    while (!text.empty() && blank(text.front())) {
        text.remove_prefix(1);
    }
    while (!text.empty() && blank(text.back())) {
        text.remove_suffix(1);
    }
    return text;
}

Result<TicketKeyStore::FileStamp> stamp_of(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        return Error{fmt::format("cannot read ticket key file {}: {}", path, std::strerror(errno))};
    }
    TicketKeyStore::FileStamp stamp;
    stamp.device = st.st_dev;
    stamp.inode = st.st_ino;
    stamp.size = st.st_size;
    stamp.mtime_sec = st.st_mtim.tv_sec;
    stamp.mtime_nsec = st.st_mtim.tv_nsec;
    return stamp;
}

using Clock = TicketKeyStore::Clock;

Clock::rep ticks(Clock::time_point t) {
    return t.time_since_epoch().count();
}

// Fills a ticket cipher and MAC context from `key`; `iv` is read (decrypt) or made (encrypt).
bool set_up_ticket_crypto(const TicketKey& key, unsigned char* iv, EVP_CIPHER_CTX* cipher,
                          EVP_MAC_CTX* mac, bool encrypt) {
    const EVP_CIPHER* aes = key.aes_size == 16 ? EVP_aes_128_cbc() : EVP_aes_256_cbc();
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(
            OSSL_MAC_PARAM_KEY, const_cast<unsigned char*>(key.hmac_key.data()), key.hmac_size),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end()};
    if (EVP_MAC_CTX_set_params(mac, params) != 1) {
        return false;
    }
    if (encrypt) {
        return RAND_bytes(iv, EVP_CIPHER_get_iv_length(aes)) == 1 &&
               EVP_EncryptInit_ex(cipher, aes, nullptr, key.aes_key.data(), iv) == 1;
    }
    return EVP_DecryptInit_ex(cipher, aes, nullptr, key.aes_key.data(), iv) == 1;
}

// OpenSSL's ticket callback. Return values (SSL_CTX_set_tlsext_ticket_key_evp_cb(3)): when
// encrypting 1 = done, when decrypting 1 = key found, 2 = found but renew the ticket, 0 = no
// such key (full handshake, new ticket); -1 = error.
int ticket_key_callback(SSL* ssl, unsigned char* key_name, unsigned char* iv,
                        EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int encrypt) {
    // The keys of the context serving the connection: after an SNI switch, the child's (its
    // tickets open nothing on the parent, nor the parent's on it, unless both read one
    // ticket_key_file; the session id context still keeps their peer-certificate rules apart).
    const ContextData* data = context_data(SSL_get_SSL_CTX(ssl));
    if (data == nullptr || !data->ticket_keys) {
        return 0; // a child without tickets: issue none, and resume none (full handshake)
    }
    const auto keys = data->ticket_keys->keys(Clock::now());
    if (encrypt == 1) {
        const TicketKey& key = keys->front();
        std::memcpy(key_name, key.name.data(), key.name.size());
        return set_up_ticket_crypto(key, iv, cipher, mac, true) ? 1 : -1;
    }
    for (size_t i = 0; i < keys->size(); ++i) {
        const TicketKey& key = (*keys)[i];
        if (std::memcmp(key_name, key.name.data(), key.name.size()) != 0) {
            continue;
        }
        if (!set_up_ticket_crypto(key, iv, cipher, mac, false)) {
            return -1;
        }
        // Renew a ticket made with an older key. Always in TLS 1.3: its clients use a ticket
        // once (RFC 8446, C.4), and OpenSSL issues none after a resumption it did not renew,
        // so without a new one every other connection would be a full handshake.
        return i == 0 && SSL_version(ssl) != TLS1_3_VERSION ? 1 : 2;
    }
    return 0;
}

} // namespace

Result<TicketKeySet> parse_ticket_key_file(std::string_view text) {
    TicketKeySet keys;
    int line_number = 0;
    while (!text.empty()) {
        ++line_number;
        const size_t end = text.find('\n');
        const std::string_view line = trim(text.substr(0, end));
        text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
        if (line.empty() || line.front() == '#') {
            continue;
        }
        const auto bytes = decode_hex(line);
        if (!bytes || bytes->size() != kKeyFileBytes) {
            return Error{fmt::format("line {}: expected {} hexadecimal digits ({} bytes: 16 name, "
                                     "32 HMAC, 32 AES), as made by `openssl rand -hex 80`",
                                     line_number, kKeyFileBytes * 2, kKeyFileBytes)};
        }
        TicketKey key;
        std::copy_n(bytes->begin(), 16, key.name.begin());
        std::copy_n(bytes->begin() + 16, 32, key.hmac_key.begin());
        std::copy_n(bytes->begin() + 48, 32, key.aes_key.begin());
        const bool duplicate = std::any_of(keys.begin(), keys.end(),
                                           [&](const TicketKey& k) { return k.name == key.name; });
        if (duplicate) {
            // Two keys with one name: a ticket could only ever be tried with the first.
            return Error{fmt::format(
                "line {}: a key with the same name (first 16 bytes) came before", line_number)};
        }
        keys.push_back(key);
    }
    if (keys.empty()) {
        return Error{"no key in the file (one key per line: `openssl rand -hex 80`)"};
    }
    return keys;
}

Result<TicketKeySet> read_ticket_key_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return Error{fmt::format("cannot read ticket key file {}: {}", path, std::strerror(errno))};
    }
    std::ostringstream text;
    text << in.rdbuf();
    auto keys = parse_ticket_key_file(text.str());
    if (!keys) {
        return Error{fmt::format("ticket key file {}: {}", path, keys.error().message)};
    }
    return keys;
}

Result<TicketKey> ticket_key_from_secrets(std::string_view aes_hex, std::string_view mac_hex) {
    const auto aes = decode_hex(aes_hex);
    const auto mac = decode_hex(mac_hex);
    const auto good_size = [](const auto& bytes) {
        return bytes && (bytes->size() == 16 || bytes->size() == 32);
    };
    if (!good_size(aes) || !good_size(mac)) {
        return Error{
            "ticket_key_secret and ticket_mac_secret must be 16 or 32 bytes as hexadecimal"};
    }
    TicketKey key;
    key.aes_size = aes->size();
    key.hmac_size = mac->size();
    std::copy(aes->begin(), aes->end(), key.aes_key.begin());
    std::copy(mac->begin(), mac->end(), key.hmac_key.begin());
    // The name: a hash of both secrets, so it is the same wherever the secrets are.
    std::vector<unsigned char> both(*aes);
    both.insert(both.end(), mac->begin(), mac->end());
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(both.data(), both.size(), digest);
    std::copy_n(digest, key.name.size(), key.name.begin());
    return key;
}

std::optional<TicketKey> random_ticket_key() {
    TicketKey key;
    if (RAND_bytes(key.name.data(), key.name.size()) != 1 ||
        RAND_priv_bytes(key.hmac_key.data(), key.hmac_key.size()) != 1 ||
        RAND_priv_bytes(key.aes_key.data(), key.aes_key.size()) != 1) {
        return std::nullopt;
    }
    return key;
}

// --- TicketKeyStore --------------------------------------------------------------------------

TicketKeyStore::TicketKeyStore(Source source, std::shared_ptr<const TicketKeySet> initial)
    : source_(source), keys_(std::move(initial)),
      next_check_(std::numeric_limits<Clock::rep>::max()) {}

Result<std::shared_ptr<TicketKeyStore>> TicketKeyStore::from_file(const std::string& path) {
    auto stamp = stamp_of(path);
    if (!stamp) {
        return stamp.error();
    }
    auto keys = read_ticket_key_file(path);
    if (!keys) {
        return keys.error();
    }
    std::shared_ptr<TicketKeyStore> store(
        new TicketKeyStore(Source::file, std::make_shared<const TicketKeySet>(std::move(*keys))));
    store->path_ = path;
    store->stamp_ = *stamp;
    store->next_check_ = ticks(Clock::now() + kFileCheckInterval);
    return store;
}

Result<std::shared_ptr<TicketKeyStore>>
TicketKeyStore::generated(std::chrono::milliseconds rotation) {
    auto key = random_ticket_key();
    if (!key) {
        return Error{"cannot make a random session ticket key"};
    }
    std::shared_ptr<TicketKeyStore> store(
        new TicketKeyStore(Source::generated, std::make_shared<const TicketKeySet>(1, *key)));
    store->rotation_ = std::max(rotation, std::chrono::milliseconds(1000));
    store->next_check_ = ticks(Clock::now() + store->rotation_);
    return store;
}

std::shared_ptr<TicketKeyStore> TicketKeyStore::fixed(const TicketKey& key) {
    return std::shared_ptr<TicketKeyStore>(
        new TicketKeyStore(Source::fixed, std::make_shared<const TicketKeySet>(1, key)));
}

std::shared_ptr<const TicketKeySet> TicketKeyStore::keys(Clock::time_point now) {
    if (ticks(now) >= next_check_.load(std::memory_order_relaxed)) {
        // One thread refreshes; the others go on with the keys in use.
        std::unique_lock refreshing(refresh_mutex_, std::try_to_lock);
        if (refreshing.owns_lock() && ticks(now) >= next_check_.load()) {
            refresh(now);
        }
    }
    std::shared_lock lock(keys_mutex_);
    return keys_;
}

void TicketKeyStore::refresh(Clock::time_point now) {
    if (source_ == Source::file) {
        next_check_ = ticks(now + kFileCheckInterval);
        refresh_file();
    } else if (source_ == Source::generated) {
        // Catch up as if every rotation had happened on time (a long idle period rotates
        // twice at most: older keys would be dropped anyway).
        Clock::time_point due(Clock::duration(next_check_.load()));
        int rotations = 0;
        while (due <= now) {
            due += rotation_;
            ++rotations;
        }
        for (int i = 0; i < std::min(rotations, 2); ++i) {
            rotate();
        }
        next_check_ = ticks(due);
    }
}

void TicketKeyStore::refresh_file() {
    const auto stamp = stamp_of(path_);
    if (!stamp) {
        if (stamp_ != FileStamp{}) {
            log::warning("{}; keeping the session ticket keys in use", stamp.error().message);
            stamp_ = FileStamp{}; // say it once, not every second
        }
        return;
    }
    if (*stamp == stamp_) {
        return;
    }
    stamp_ = *stamp; // a bad version is reported once; the next change is looked at again
    auto keys = read_ticket_key_file(path_);
    if (!keys) {
        log::warning("{}; keeping the session ticket keys in use", keys.error().message);
        return;
    }
    const size_t count = keys->size();
    {
        std::unique_lock lock(keys_mutex_);
        keys_ = std::make_shared<const TicketKeySet>(std::move(*keys));
    }
    log::notice("session ticket keys reloaded from {}: {} key(s)", path_, count);
}

void TicketKeyStore::rotate() {
    auto key = random_ticket_key();
    if (!key) {
        log::warning("cannot make a new session ticket key; keeping the one in use");
        return;
    }
    std::unique_lock lock(keys_mutex_);
    // The new key encrypts; the previous one still decrypts for one period.
    keys_ = std::make_shared<const TicketKeySet>(TicketKeySet{*key, keys_->front()});
}

void use_ticket_keys(SSL_CTX* ctx, std::shared_ptr<TicketKeyStore> store) {
    attach_context_data(ctx).ticket_keys = std::move(store);
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_key_callback);
}

} // namespace tlsgate::tls
