#include "tlsgate/proto/filter_base.hpp"

#include <algorithm>
#include <fmt/format.h>

namespace tlsgate::proto {

FilterBase::FilterBase(const FilterSettings& settings, const ProtocolReplies& replies)
    : settings_(settings), replies_(replies), tls_(settings.tls_active_from_start) {}

void FilterBase::on_client_data(std::string_view bytes, Actions& out) {
    if (transparent_) {
        out.to_backend.append(bytes);
        return;
    }
    if (closing_ || closed_) {
        return; // the connection is going away; nothing more is executed
    }
    if (starttls_accepted_) {
        discard_injected(bytes.size(), out);
        return;
    }
    cin_.append(bytes);
    run(out);
}

void FilterBase::on_backend_data(std::string_view bytes, Actions& out) {
    if (transparent_) {
        out.to_client.append(bytes);
        return;
    }
    if (closed_) {
        return;
    }
    bin_.append(bytes);
    run(out);
}

void FilterBase::on_tls_established(Actions& out) {
    if (closed_ || transparent_) {
        return;
    }
    if (!starttls_accepted_) {
        tls_ = true; // not ours (implicit TLS reported late): nothing to reset
        return;
    }
    tls_ = true;
    starttls_accepted_ = false;
    tls_pending_ = false;
    ++counters_.starttls_completed;
    cin_.clear(); // already counted as discarded
    after_tls(out);
    run(out);
}

void FilterBase::run(Actions& out) {
    // Backend output the client may see in plaintext stops once start_tls is out: the rest
    // waits for the handshake.
    if (!tls_pending_) {
        process_backend(out);
        flush_queue(out); // replies held while a backend line was partly sent
    }
    if (!client_stopped() && !tls_pending_) {
        process_client(out);
        // Unheld, cin_ keeps at most one partial line (bounded by the line limits); held
        // input stops the session's reads at pause_point(), so only a session that kept
        // reading gets here.
        if (!client_stopped() && cin_.size() > pause_point() + kClientReadAhead) {
            ++counters_.commands_refused;
            log(out, config::LogLevel::warning, "too much client data buffered, closing");
            reply_and_close(out, replies_.held_overflow, "client sent too much unprocessed data");
        }
    }
    if (!closed_ && !tls_pending_ && !starttls_accepted_ && can_step_aside()) {
        step_aside(out);
    }
}

void FilterBase::step_aside(Actions& out) {
    transparent_ = true;
    // Nothing buffered may be lost: a partial client line goes on, as does whatever the
    // backend sent that was not handed out yet.
    out.to_backend += cin_.view();
    cin_.clear();
    out.to_client += bin_.take_all();
    log(out, config::LogLevel::debug, "authenticated over TLS: relaying transparently");
}

void FilterBase::forward_command(Actions& out, std::string_view verb, std::string_view line) {
    if (settings_.trace_commands) {
        out.commands.push_back(ForwardedCommand{out.to_backend.size(), std::string(verb)});
    }
    out.to_backend += line;
    out.to_backend += "\r\n";
}

uint64_t FilterBase::expect(int kind, std::string tag) {
    Slot s;
    s.kind = kind;
    s.tag = std::move(tag);
    queue_.push_back(std::move(s));
    return popped_slots_ + queue_.size() - 1;
}

FilterBase::Slot* FilterBase::slot_at(uint64_t seq) {
    if (seq < popped_slots_ || seq - popped_slots_ >= queue_.size()) {
        return nullptr;
    }
    return &queue_[static_cast<size_t>(seq - popped_slots_)];
}

void FilterBase::pop_front_slot() {
    queue_.pop_front();
    ++popped_slots_;
}

void FilterBase::clear_queue() {
    popped_slots_ += queue_.size();
    queue_.clear();
}

size_t FilterBase::pause_point() const {
    // Above the longest line the filter may still have to take whole (a paused filter that
    // waits for the end of a line would never get it).
    return std::max(kMaxHeldClientBytes, 2 * settings_.max_line + 16384);
}

bool FilterBase::wants_client_input() const {
    if (transparent_ || closing_ || closed_ || starttls_accepted_) {
        return true; // relayed as is, or dropped: nothing accumulates here
    }
    return !pending_full() && cin_.size() < pause_point();
}

FilterBase::Slot* FilterBase::front_backend_slot() {
    for (auto& s : queue_) {
        if (!s.local && !s.done) {
            return &s;
        }
    }
    return nullptr;
}

void FilterBase::finish_front(Actions& out) {
    for (auto& s : queue_) {
        if (!s.local && !s.done) {
            s.done = true;
            break;
        }
    }
    flush_queue(out);
}

void FilterBase::reply(Actions& out, std::string text) {
    Slot s;
    s.local = true;
    s.text = std::move(text);
    queue_.push_back(std::move(s));
    flush_queue(out);
}

void FilterBase::reply_and_close(Actions& out, std::string text, std::string reason) {
    // Fatal: close now rather than wait for backend replies that may never come (e.g. the
    // client broke off a SASL exchange with an overlong line). Our own replies still queued go
    // out first, in order; replies the backend still owes are dropped with the connection.
    closing_ = true;
    for (auto& s : queue_) {
        if (s.local) {
            out.to_client += s.text;
        }
    }
    clear_queue();
    out.to_client += text;
    out.close = true;
    out.close_reason = std::move(reason);
    closed_ = true;
}

void FilterBase::reply_start_tls(Actions& out, std::string text) {
    Slot s;
    s.local = true;
    s.text = std::move(text);
    s.start_tls = true;
    queue_.push_back(std::move(s));
    flush_queue(out);
}

void FilterBase::flush_queue(Actions& out) {
    while (!queue_.empty() && !closed_) {
        Slot& s = queue_.front();
        if (!s.local && !s.done) {
            return;
        }
        if (s.local && backend_mid_line()) {
            return; // never inside a backend line the client has only partly received
        }
        if (!s.local) {
            pop_front_slot();
            continue;
        }
        out.to_client += s.text;
        bool start = s.start_tls;
        bool close = s.close;
        std::string reason = std::move(s.close_reason);
        pop_front_slot();
        if (close) {
            out.close = true;
            out.close_reason = reason;
            closed_ = true;
            clear_queue();
            return;
        }
        if (start) {
            out.start_tls = true;
            tls_pending_ = true;
            return;
        }
    }
}

void FilterBase::log(Actions& out, config::LogLevel level, std::string message) {
    out.log.push_back(LogEvent{level, std::move(message)});
}

void FilterBase::count_error(Actions& out) {
    ++errors_;
    if (settings_.max_errors > 0 && errors_ >= settings_.max_errors && !closing_) {
        log(out, config::LogLevel::notice,
            fmt::format("{} invalid or refused commands, closing", errors_));
        reply_and_close(out, replies_.too_many_errors, "too many errors");
    }
}

void FilterBase::refuse(Actions& out, std::string_view verb, std::string text, bool auth,
                        std::string_view why) {
    ++counters_.commands_refused;
    if (auth) {
        ++counters_.auth_refused_before_tls;
    }
    log(out, config::LogLevel::notice, fmt::format("refused {}: {}", loggable_verb(verb), why));
    reply(out, std::move(text));
    count_error(out);
}

void FilterBase::invalid(Actions& out, std::string text, std::string_view why) {
    log(out, config::LogLevel::info, fmt::format("invalid command: {}", why));
    reply(out, std::move(text));
    count_error(out);
}

void FilterBase::line_too_long(Actions& out) {
    ++counters_.overlong_lines;
    log(out, config::LogLevel::warning, "client line too long, closing");
    cin_.clear();
    reply_and_close(out, replies_.overlong, "line too long");
}

void FilterBase::accept_starttls(Actions& out, std::string text) {
    starttls_accepted_ = true;
    // Whatever the client pipelined after the STARTTLS line must never be executed.
    discard_injected(cin_.size(), out);
    cin_.clear();
    reply_start_tls(out, std::move(text));
}

void FilterBase::discard_injected(size_t n, Actions& out) {
    if (n == 0) {
        return;
    }
    counters_.injected_bytes_discarded += n;
    out.discarded_bytes += n;
    log(out, config::LogLevel::warning,
        fmt::format("discarded {} bytes the client sent after STARTTLS before the TLS handshake",
                    n));
}

bool FilterBase::refuse_sasl_response(Actions& out, bool known_verb, std::string reply) {
    if (!after_refused_auth_) {
        return false;
    }
    if (known_verb) {
        after_refused_auth_ = false;
        return false;
    }
    invalid(out, std::move(reply), "SASL response to a refused AUTH");
    return true;
}

bool FilterBase::take_client_line(Actions& out, size_t limit, std::string& line) {
    LineScan scan = scan_line(cin_.view(), limit);
    if (scan.status == LineScan::Status::overlong) {
        line_too_long(out);
        return false;
    }
    if (scan.status == LineScan::Status::incomplete) {
        return false;
    }
    line.assign(cin_.view().substr(0, scan.length));
    cin_.consume(scan.length);
    return true;
}

} // namespace tlsgate::proto
