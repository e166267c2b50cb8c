#pragma once

#include "tlsgate/proto/filter.hpp"
#include "tlsgate/proto/line_buffer.hpp"

#include <deque>
#include <string>
#include <string_view>

namespace tlsgate::proto {

// Shared machinery of the three server filters:
//  - client bytes are buffered in cin_ and consumed by process_client() only when the
//    protocol state allows (e.g. not before the backend's greeting, not while a command waits
//    for a continuation from the backend);
//  - backend bytes are consumed by process_backend() line by line (bounded);
//  - replies the filter produces itself are queued behind the replies still owed by the
//    backend to earlier (pipelined) commands, so they never overtake them;
//  - after STARTTLS is accepted every further client byte is discarded until
//    on_tls_established().
// The fixed replies each protocol gives in the situations FilterBase handles itself.
struct ProtocolReplies {
    const char* backend_unavailable;
    const char* timeout;
    const char* too_many_errors;
    const char* overlong;
    const char* held_overflow;
};

class FilterBase : public ServerFilter {
public:
    std::string backend_unavailable_reply() const final { return replies_.backend_unavailable; }
    std::string timeout_reply() const final { return replies_.timeout; }

    void on_client_data(std::string_view bytes, Actions& out) final;
    void on_backend_data(std::string_view bytes, Actions& out) final;
    void on_tls_established(Actions& out) final;

    bool transparent() const override { return transparent_; }
    bool wants_client_input() const override;
    bool tls_active() const override { return tls_; }
    bool quiet() const override {
        return transparent_ || (cin_.empty() && queue_.empty() && !bin_.mid_line() &&
                                !starttls_accepted_ && !tls_pending_ && !closing_ && !closed_);
    }

    // Largest backend line parsed as a line; longer ones are passed through unparsed.
    static constexpr size_t kMaxBackendLine = 64 * 1024;
    // Client bytes held while the filter may not process them yet (before the greeting,
    // while a command waits for a backend continuation): from this many on (or twice the
    // longest line, if more) the filter asks the session to stop reading the client.
    static constexpr size_t kMaxHeldClientBytes = 64 * 1024;
    // Commands forwarded whose replies are still owed (plus replies of our own waiting their
    // turn): beyond this no new command is taken until the backend catches up.
    static constexpr size_t kMaxPendingCommands = 128;
    // What a session may still deliver after wants_client_input() turned false (the rest of
    // one socket read, decrypted). Held input beyond the pause point plus this closes the
    // connection: the session did not stop reading.
    static constexpr size_t kClientReadAhead = 128 * 1024;

protected:
    FilterBase(const FilterSettings& settings, const ProtocolReplies& replies);

    // Consume as much of cin_ as the state allows.
    virtual void process_client(Actions& out) = 0;
    // Consume as much of bin_ as the state allows.
    virtual void process_backend(Actions& out) = 0;
    // Protocol duties once TLS is up (e.g. SMTP's RSET).
    virtual void after_tls(Actions&) {}
    // True when the filter may step aside now.
    virtual bool can_step_aside() const { return false; }
    // True while the client has been sent part of a backend line (or IMAP literal) and not
    // its end: a reply of our own must not go out now, it would land inside that line.
    virtual bool backend_mid_line() const { return bin_.mid_line(); }

    struct Slot {
        bool local = false;     // a reply of the filter's own, waiting its turn
        std::string text;       // local only
        bool close = false;     // local only: close after sending
        bool start_tls = false; // local only: start TLS after sending
        std::string close_reason;
        int kind = 0;    // protocol specific: what the backend reply means
        std::string tag; // IMAP tag
        bool done = false;
    };

    // Appends a command line (without its terminator) and CRLF to out.to_backend, recording
    // it in out.commands when tracing. Every command the filter forwards goes through here;
    // data (literals, SASL responses, message bodies) never does.
    void forward_command(Actions& out, std::string_view verb, std::string_view line);
    // A command went to the backend; its reply is awaited. Returns the slot's sequence number
    // (see slot_at).
    uint64_t expect(int kind, std::string tag = {});
    // The queued slot with sequence number `seq`, or nullptr once it has left the queue.
    // Sequence numbers count every slot ever queued, so a lookup is O(1).
    Slot* slot_at(uint64_t seq);
    // No new command may be taken now: kMaxPendingCommands slots are queued.
    bool pending_full() const { return queue_.size() >= kMaxPendingCommands; }
    // The backend slot at the front is complete.
    void finish_front(Actions& out);
    // Reply of our own, in order.
    void reply(Actions& out, std::string text);
    void reply_and_close(Actions& out, std::string text, std::string reason);
    void reply_start_tls(Actions& out, std::string text);
    // Emit every local reply at the front of the queue (and done slots).
    void flush_queue(Actions& out);
    // First slot still waiting for the backend, or nullptr.
    Slot* front_backend_slot();

    // Refusal of a command: counters, a LogEvent by verb only, the error limit.
    void refuse(Actions& out, std::string_view verb, std::string text, bool auth,
                std::string_view why);
    // An invalid command (syntax): counts toward max_errors.
    void invalid(Actions& out, std::string text, std::string_view why);
    void count_error(Actions& out);
    void line_too_long(Actions& out);
    // Takes the next complete client line (CRLF included) of at most `limit` octets from
    // cin_. False when none is complete yet, or when it is too long (then the connection is
    // being closed with the protocol's error).
    bool take_client_line(Actions& out, size_t limit, std::string& line);
    // STARTTLS accepted: client bytes from now on are discarded.
    void accept_starttls(Actions& out, std::string text);
    void discard_injected(size_t n, Actions& out);
    void log(Actions& out, config::LogLevel level, std::string message);
    // After an AUTH refused before TLS, a client that pipelines its SASL response would have
    // that response (a password, base64) taken for a command: until the next known verb,
    // every line is refused with `reply` instead. Returns true when the line was refused.
    bool refuse_sasl_response(Actions& out, bool known_verb, std::string reply);
    void auth_refused() { after_refused_auth_ = true; }
    // Stop consuming client input (a close is queued or done).
    bool client_stopped() const { return closing_ || closed_ || starttls_accepted_; }
    // Backend output must wait (TLS handshake pending) or is moot (closed).
    bool backend_paused() const { return tls_pending_ || closed_; }

    FilterSettings settings_;
    const ProtocolReplies& replies_;
    bool tls_ = false;
    bool greeting_done_ = false;
    bool authenticated_ = false;
    InputBuffer cin_; // client bytes not yet consumed
    BoundedLines bin_{kMaxBackendLine};
    std::deque<Slot> queue_;

private:
    void pop_front_slot();
    void clear_queue();
    // Held client input from which the session is asked to stop reading.
    size_t pause_point() const;

    void run(Actions& out);
    void step_aside(Actions& out);

    bool starttls_accepted_ = false; // STARTTLS consumed; waiting for the handshake
    bool tls_pending_ = false;       // start_tls emitted
    bool closing_ = false;           // a close is queued
    bool closed_ = false;            // close emitted
    bool transparent_ = false;
    bool after_refused_auth_ = false;
    unsigned errors_ = 0;
    uint64_t popped_slots_ = 0; // slots that have left the queue: queue_[i] has this + i
};

} // namespace tlsgate::proto
