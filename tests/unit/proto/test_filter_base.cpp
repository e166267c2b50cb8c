// The machinery the three server filters share (filter_base.cpp), seen through a toy protocol:
// one command per line, "BAD" invalid, "AUTH" refused, "STARTTLS" accepted, anything else
// forwarded; every backend line after the greeting answers the oldest command.
#include "tlsgate/proto/filter_base.hpp"

#include <catch2/catch.hpp>
#include <string>

using namespace tlsgate;
using namespace tlsgate::proto;

namespace {

constexpr ProtocolReplies kToyReplies = {"unavailable\r\n", "timeout\r\n", "too many errors\r\n",
                                         "too long\r\n", "held overflow\r\n"};

class ToyFilter final : public FilterBase {
public:
    explicit ToyFilter(const FilterSettings& settings) : FilterBase(settings, kToyReplies) {}

    static constexpr size_t kMaxLine = 64;

private:
    void process_client(Actions& out) override {
        std::string line;
        while (!client_stopped() && greeting_done_ && !pending_full() &&
               take_client_line(out, kMaxLine, line)) {
            std::string_view content = line_content(line);
            if (content == "BAD") {
                invalid(out, "bad\r\n", "toy syntax");
            } else if (content == "AUTH") {
                refuse(out, "AUTH", "no auth\r\n", true, "authentication before TLS");
            } else if (content == "STARTTLS") {
                accept_starttls(out, "go\r\n");
            } else {
                forward_command(out, content, content);
                expect(0);
            }
        }
    }

    void process_backend(Actions& out) override {
        BoundedLines::Piece p;
        while (!backend_paused() && bin_.next(p)) {
            out.to_client += p.text;
            if (!p.ends_line) {
                continue;
            }
            if (!greeting_done_) {
                greeting_done_ = true;
                continue;
            }
            finish_front(out);
        }
    }
};

FilterSettings toy_settings() {
    FilterSettings s;
    s.max_errors = 5;
    return s;
}

// The backend's greeting, after which the filter takes commands.
void greet(ToyFilter& f) {
    Actions a;
    f.on_backend_data("hello\r\n", a);
    REQUIRE(a.to_client == "hello\r\n");
}

} // namespace

TEST_CASE("filter base: nothing is taken from the client before the greeting", "[filter_base]") {
    ToyFilter f(toy_settings());
    Actions a;
    f.on_client_data("A\r\n", a);
    CHECK(a.to_backend.empty());
    f.on_backend_data("hello\r\n", a);
    CHECK(a.to_client == "hello\r\n");
    CHECK(a.to_backend == "A\r\n");
}

TEST_CASE("filter base: own replies wait for the backend replies owed before them",
          "[filter_base]") {
    ToyFilter f(toy_settings());
    greet(f);
    Actions a;
    f.on_client_data("A\r\nBAD\r\n", a);
    CHECK(a.to_backend == "A\r\n");
    CHECK(a.to_client.empty());
    Actions b;
    f.on_backend_data("ok A\r\n", b);
    CHECK(b.to_client == "ok A\r\nbad\r\n");
}

TEST_CASE("filter base: max_errors closes with the protocol's reply", "[filter_base]") {
    FilterSettings s = toy_settings();
    s.max_errors = 2;
    ToyFilter f(s);
    greet(f);
    Actions a;
    f.on_client_data("BAD\r\nBAD\r\nA\r\n", a);
    CHECK(a.to_client == "bad\r\nbad\r\ntoo many errors\r\n");
    CHECK(a.to_backend.empty());
    CHECK(a.close);
    CHECK(a.close_reason == "too many errors");
}

TEST_CASE("filter base: a refused authentication is counted and logged by verb only",
          "[filter_base]") {
    ToyFilter f(toy_settings());
    greet(f);
    Actions a;
    f.on_client_data("AUTH\r\n", a);
    CHECK(a.to_client == "no auth\r\n");
    CHECK(f.counters().commands_refused == 1);
    CHECK(f.counters().auth_refused_before_tls == 1);
    REQUIRE(a.log.size() == 1);
    CHECK(a.log[0].message == "refused AUTH: authentication before TLS");
}

TEST_CASE("filter base: client bytes after STARTTLS are discarded and counted", "[filter_base]") {
    ToyFilter f(toy_settings());
    greet(f);
    Actions a;
    f.on_client_data("STARTTLS\r\nAUTH\r\n", a);
    CHECK(a.to_client == "go\r\n");
    CHECK(a.to_backend.empty());
    CHECK(a.start_tls);
    CHECK_FALSE(a.close);
    CHECK(a.discarded_bytes == 6);
    Actions b;
    f.on_client_data("more", b);
    CHECK(b.to_client.empty());
    CHECK(b.to_backend.empty());
    CHECK_FALSE(b.start_tls);
    CHECK(b.discarded_bytes == 4);
    CHECK(f.counters().injected_bytes_discarded == 10);
    CHECK(f.counters().starttls_completed == 0);
    CHECK(f.wants_client_input()); // dropped: nothing accumulates

    Actions c;
    f.on_tls_established(c);
    CHECK(f.tls_active());
    CHECK(f.counters().starttls_completed == 1);
    f.on_client_data("A\r\n", c);
    CHECK(c.to_backend == "A\r\n");
    CHECK(c.discarded_bytes == 0);
}

TEST_CASE("filter base: an overlong line closes the connection", "[filter_base]") {
    ToyFilter f(toy_settings());
    greet(f);
    Actions a;
    f.on_client_data(std::string(ToyFilter::kMaxLine, 'x') + "\r\n", a);
    CHECK(a.to_client == "too long\r\n");
    CHECK(a.close);
    CHECK(a.close_reason == "line too long");
    CHECK(f.counters().overlong_lines == 1);
    Actions b;
    f.on_client_data("A\r\n", b);
    CHECK(b.to_backend.empty()); // nothing more is executed
}

TEST_CASE("filter base: at most kMaxPendingCommands commands await their replies",
          "[filter_base]") {
    ToyFilter f(toy_settings());
    greet(f);
    std::string many;
    for (size_t i = 0; i <= FilterBase::kMaxPendingCommands; ++i) {
        many += "A\r\n";
    }
    Actions a;
    f.on_client_data(many, a);
    CHECK(a.to_backend.size() == 3 * FilterBase::kMaxPendingCommands);
    CHECK_FALSE(f.wants_client_input());
    Actions b;
    f.on_backend_data("ok\r\n", b);
    CHECK(b.to_backend == "A\r\n"); // the one held back
    CHECK_FALSE(f.wants_client_input());
    Actions c;
    f.on_backend_data("ok\r\n", c);
    CHECK(f.wants_client_input());
}

TEST_CASE("filter base: forwarded commands are traced only when asked", "[filter_base]") {
    Actions quiet;
    ToyFilter f(toy_settings());
    greet(f);
    f.on_client_data("A\r\nBB\r\n", quiet);
    CHECK(quiet.commands.empty());

    FilterSettings s = toy_settings();
    s.trace_commands = true;
    ToyFilter traced(s);
    greet(traced);
    Actions a;
    traced.on_client_data("A\r\nBB\r\n", a);
    REQUIRE(a.commands.size() == 2);
    CHECK(a.commands[0].offset == 0);
    CHECK(a.commands[0].verb == "A");
    CHECK(a.commands[1].offset == 3);
    CHECK(a.commands[1].verb == "BB");
}

TEST_CASE("filter base: fixed replies come from the protocol's table", "[filter_base]") {
    ToyFilter f(toy_settings());
    CHECK(f.backend_unavailable_reply() == "unavailable\r\n");
    CHECK(f.timeout_reply() == "timeout\r\n");
}
