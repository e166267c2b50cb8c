#pragma once

#include "tlsgate/core/result.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <openssl/ssl.h>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace tlsgate::tls {

// One session ticket key: the name goes in clear into every ticket so a server can find the
// key that made it; the HMAC key authenticates the ticket (HMAC-SHA256), the AES key encrypts
// it (AES-CBC, 128 or 256 bits by its size).
struct TicketKey {
    std::array<unsigned char, 16> name{};
    std::array<unsigned char, 32> hmac_key{};
    size_t hmac_size = 32;
    std::array<unsigned char, 32> aes_key{};
    size_t aes_size = 32;

    bool operator==(const TicketKey&) const = default;
};

// The keys in use: the first encrypts new tickets, every one decrypts.
using TicketKeySet = std::vector<TicketKey>;

// The ticket key file format: one key per line, 160 hexadecimal digits (80 bytes: 16 name,
// 32 HMAC, 32 AES, nginx's 80-byte layout), e.g. `openssl rand -hex 80`; blank lines and lines
// starting with '#' are ignored. The first key encrypts. Errors name the line.
Result<TicketKeySet> parse_ticket_key_file(std::string_view text);
Result<TicketKeySet> read_ticket_key_file(const std::string& path);

// stunnel's ticketKeySecret/ticketMacSecret: one fixed key from two hex strings (16 or 32
// bytes each). Its name is derived from both secrets, so every process given the same secrets
// names the key the same way.
Result<TicketKey> ticket_key_from_secrets(std::string_view aes_hex, std::string_view mac_hex);

// A fresh random key (for the generated, rotated keys).
std::optional<TicketKey> random_ticket_key();

// The session ticket keys of one server context, shared by every worker thread that runs a
// handshake on it. Readers take a shared lock just long enough to copy a snapshot pointer;
// the refresh (file changed, rotation due) runs at most once a second, in whichever handshake
// comes first, without making the others wait.
class TicketKeyStore {
public:
    using Clock = std::chrono::steady_clock;

    // Keys from a file (checked for changes at most once a second; a bad new file is logged
    // and the keys in use are kept). An error when the file is unusable now.
    static Result<std::shared_ptr<TicketKeyStore>> from_file(const std::string& path);
    // Keys made here, a new one every `rotation`; the one before stays usable for decryption
    // for one more period, so a ticket lives at least `rotation` across a rotation.
    static Result<std::shared_ptr<TicketKeyStore>> generated(std::chrono::milliseconds rotation);
    // One fixed key.
    static std::shared_ptr<TicketKeyStore> fixed(const TicketKey& key);

    TicketKeyStore(const TicketKeyStore&) = delete;
    TicketKeyStore& operator=(const TicketKeyStore&) = delete;

    // The keys to use now (never empty); refreshes first when a check is due.
    std::shared_ptr<const TicketKeySet> keys(Clock::time_point now);

    // Identity of a file version: a rename over it or a rewrite changes it.
    struct FileStamp {
        dev_t device = 0;
        ino_t inode = 0;
        off_t size = 0;
        long mtime_sec = 0;
        long mtime_nsec = 0;
        bool operator==(const FileStamp&) const = default;
    };

    // How long between two looks at the key file.
    static constexpr std::chrono::seconds kFileCheckInterval{1};

private:
    enum class Source { file, generated, fixed };
    TicketKeyStore(Source source, std::shared_ptr<const TicketKeySet> initial);
    void refresh(Clock::time_point now);
    void refresh_file();
    void rotate();

    const Source source_;
    std::string path_;                      // Source::file
    std::chrono::milliseconds rotation_{0}; // Source::generated

    mutable std::shared_mutex keys_mutex_; // guards keys_
    std::shared_ptr<const TicketKeySet> keys_;

    // When the next refresh is due (Clock ticks); read without a lock on every handshake.
    std::atomic<Clock::rep> next_check_;
    std::mutex refresh_mutex_; // held by the one thread refreshing; guards stamp_
    FileStamp stamp_;
};

// Installs the session ticket callback on a server context: tickets are encrypted with
// `store`'s first key and decrypted with whichever key the ticket names; a ticket made with
// an older key is accepted and replaced by a new one. The store is kept alive by the context.
void use_ticket_keys(SSL_CTX* ctx, std::shared_ptr<TicketKeyStore> store);

} // namespace tlsgate::tls
