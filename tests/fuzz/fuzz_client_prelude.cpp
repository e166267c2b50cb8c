// libFuzzer target: the client-mode STARTTLS preludes (IMAP, POP3, SMTP), which read a
// remote server that anyone on the path may impersonate before TLS.
//
// Input: byte 0 chooses the settings: bits 0-1 the protocol (0 IMAP, 1 POP3, else SMTP),
// bit 2 starttls_policy "may" (else "encrypt"). Then events, opcode = byte % 4:
//   0 server bytes  <len:1> <len bytes>
//   1 server bytes  <len:2 big-endian> <len bytes>
//   2 TLS established (delivered only while a start_tls is outstanding, as the session)
//   3 server flood  <k:1> <c:1>  ((k % 80 + 1) KiB of octet c, plus a LF when k >= 128)
// Server bytes are fed only while the prelude is not done, as the session does.
//
// Invariants checked after every event (a violation prints a message and aborts):
//   P1. Nothing the server sent in plaintext reaches the local program: `to_client` stays
//       empty except with `close` (the failure reply), `plaintext_fallback` (SMTP under
//       "may": the server's greeting) and on_tls_established() (tlsgate's fixed greeting).
//   P2. After start_tls, server bytes produce nothing: no output, no flag; they are all
//       counted in `discarded_bytes`.
//   P3. The server gets only the prelude's own commands, in order, each at most once.
//   P4. One ending: start_tls, close and plaintext_fallback happen at most once in all, the
//       latter only for SMTP under "may"; done() follows close, fallback and TLS established.
//   P5. A failure reply is one line: CRLF at its end and nowhere else, bounded.
#include "tlsgate/proto/client_prelude.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

namespace {

using tlsgate::config::Protocol;
using tlsgate::config::StarttlsPolicy;
using tlsgate::proto::Actions;

[[noreturn]] void violated(const char* what, const std::string& detail) {
    std::fprintf(stderr, "\n*** INVARIANT VIOLATED: %s\n%s\n", what, detail.c_str());
    std::fflush(stderr);
    std::abort();
}

class PreludeHarness {
public:
    PreludeHarness(const uint8_t* data, size_t size) : data_(data), size_(size) {}

    void run() {
        if (size_ == 0) {
            return;
        }
        const uint8_t s = data_[pos_++];
        const int p = s & 3;
        settings_.protocol = p == 0 ? Protocol::imap : p == 1 ? Protocol::pop3 : Protocol::smtp;
        settings_.starttls_policy = (s & 4) ? StarttlsPolicy::may : StarttlsPolicy::encrypt;
        prelude_ = tlsgate::proto::make_client_prelude(settings_);
        if (!prelude_) {
            violated("make_client_prelude returned nullptr", "");
        }
        while (pos_ < size_ && !prelude_->done()) {
            switch (data_[pos_++] % 4) {
            case 0:
                server(take(byte()));
                break;
            case 1: {
                size_t n = static_cast<size_t>(byte()) << 8;
                n |= byte();
                server(take(n));
                break;
            }
            case 2:
                if (tls_pending_) {
                    tls_established();
                }
                break;
            case 3: {
                const uint8_t k = byte();
                std::string flood(static_cast<size_t>(k % 80 + 1) * 1024,
                                  static_cast<char>(byte()));
                if (k >= 128) {
                    flood += '\n';
                }
                server(flood);
                break;
            }
            }
        }
    }

private:
    uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }

    std::string take(size_t n) {
        n = std::min(n, size_ - pos_);
        std::string r(reinterpret_cast<const char*>(data_ + pos_), n);
        pos_ += n;
        return r;
    }

    void server(const std::string& bytes) {
        Actions a;
        prelude_->on_backend_data(bytes, a);
        if (tls_pending_) {
            if (!a.to_backend.empty() || !a.to_client.empty() || a.start_tls || a.close ||
                a.plaintext_fallback) {
                violated("P2: server bytes after the go-ahead produced output", describe(a));
            }
            if (a.discarded_bytes != bytes.size()) {
                violated("P2: server bytes after the go-ahead not all discarded", describe(a));
            }
            return;
        }
        if (!a.to_client.empty() && !a.close && !a.plaintext_fallback) {
            violated("P1: plaintext from the server reached the local program", describe(a));
        }
        after(a);
    }

    void tls_established() {
        Actions a;
        prelude_->on_tls_established(a);
        tls_pending_ = false;
        if (!prelude_->done()) {
            violated("P4: not done after TLS established", describe(a));
        }
        if (!a.to_backend.empty() || a.start_tls || a.close || a.plaintext_fallback) {
            violated("P4: actions besides the greeting after TLS established", describe(a));
        }
        const std::string& g = a.to_client;
        if (g.size() < 2 || g.find('\n') != g.size() - 1 || g.find('\r') != g.size() - 2) {
            violated("P1: the greeting after TLS is not one line", describe(a));
        }
    }

    void after(const Actions& a) {
        sent_ += a.to_backend;
        bool allowed = false;
        for (const std::string& commands : allowed_commands()) {
            allowed = allowed || commands.compare(0, sent_.size(), sent_) == 0;
        }
        if (!sent_.empty() && !allowed) {
            violated("P3: the server got something the prelude never sends", describe(a));
        }
        const int endings =
            (a.start_tls ? 1 : 0) + (a.close ? 1 : 0) + (a.plaintext_fallback ? 1 : 0);
        endings_ += endings;
        if (endings_ > 1) {
            violated("P4: more than one ending", describe(a));
        }
        if (a.plaintext_fallback && (settings_.protocol != Protocol::smtp ||
                                     settings_.starttls_policy != StarttlsPolicy::may)) {
            violated("P4: plaintext fallback outside SMTP under may", describe(a));
        }
        if ((a.close || a.plaintext_fallback) && !prelude_->done()) {
            violated("P4: not done after close or fallback", describe(a));
        }
        if (a.start_tls) {
            if (prelude_->done()) {
                violated("P4: done before TLS established", describe(a));
            }
            tls_pending_ = true;
        }
        if (a.close) {
            const std::string& r = a.to_client;
            if (r.size() < 2 || r.size() > 32 + 200 || r.find('\n') != r.size() - 1 ||
                r.find('\r') != r.size() - 2) {
                violated("P5: the failure reply is not one bounded line", describe(a));
            }
        }
    }

    // Every command sequence the prelude may send, complete.
    std::vector<std::string> allowed_commands() const {
        switch (settings_.protocol) {
        case Protocol::imap:
            return {"A1 CAPABILITY\r\nA2 STARTTLS\r\n", "A2 STARTTLS\r\n"};
        case Protocol::pop3:
            return {"CAPA\r\nSTLS\r\n"};
        default:
            return {"EHLO localhost\r\nSTARTTLS\r\n"};
        }
    }

    static std::string describe(const Actions& a) {
        std::string d = "to_backend: " + a.to_backend.substr(0, 200) +
                        "\nto_client: " + a.to_client.substr(0, 400) + "\n";
        d += "start_tls=" + std::to_string(a.start_tls) + " close=" + std::to_string(a.close) +
             " fallback=" + std::to_string(a.plaintext_fallback) +
             " discarded=" + std::to_string(a.discarded_bytes) + " reason=" + a.close_reason;
        return d;
    }

    const uint8_t* data_;
    size_t size_;
    size_t pos_ = 0;
    tlsgate::proto::ClientPreludeSettings settings_;
    std::unique_ptr<tlsgate::proto::ClientPrelude> prelude_;
    bool tls_pending_ = false;
    int endings_ = 0;
    std::string sent_;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    PreludeHarness(data, size).run();
    return 0;
}
