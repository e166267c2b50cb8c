#include "prelude_test_util.hpp"

#include <catch2/catch.hpp>

namespace tlsgate::proto::prelude_test {

namespace {

void collect(Outcome& r, Actions& a, bool tls_done) {
    r.to_backend += a.to_backend;
    r.to_client += a.to_client;
    if (!tls_done) {
        r.to_client_before_tls += a.to_client;
    }
    r.start_tls += a.start_tls ? 1 : 0;
    r.plaintext_fallback += a.plaintext_fallback ? 1 : 0;
    r.close += a.close ? 1 : 0;
    if (a.close) {
        r.close_reason = a.close_reason;
    }
    r.discarded += a.discarded_bytes;
    CHECK(a.commands.empty());
    for (auto& e : a.log) {
        r.log.push_back(e);
    }
    a = Actions{};
}

// Log messages except the per-call discard warnings, whose count depends on the chunking.
std::vector<std::string> steady_log(const Outcome& r) {
    std::vector<std::string> m;
    for (const auto& e : r.log) {
        if (e.message.rfind("discarded ", 0) != 0) {
            m.push_back(e.message);
        }
    }
    return m;
}

} // namespace

ClientPreludeSettings settings_for(config::Protocol protocol, config::StarttlsPolicy policy,
                                   std::string ehlo_name) {
    ClientPreludeSettings s;
    s.protocol = protocol;
    s.starttls_policy = policy;
    s.ehlo_name = std::move(ehlo_name);
    return s;
}

Outcome run(const ClientPreludeSettings& settings, const std::vector<Step>& steps,
            const Splitter& split) {
    auto p = make_client_prelude(settings);
    REQUIRE(p);
    Outcome r;
    Actions a;
    bool tls_done = false;
    for (size_t i = 0; i < steps.size() && !p->done(); ++i) {
        if (steps[i].tls) {
            p->on_tls_established(a);
            tls_done = true;
            collect(r, a, tls_done);
            continue;
        }
        for (const auto& piece : split(i, steps[i].bytes)) {
            if (p->done()) {
                break;
            }
            p->on_backend_data(piece, a);
            collect(r, a, tls_done);
        }
    }
    r.done = p->done();
    return r;
}

std::vector<std::string> whole(size_t, const std::string& b) {
    return {b};
}

std::vector<std::string> bytewise(size_t, const std::string& b) {
    std::vector<std::string> r;
    for (char c : b) {
        r.emplace_back(1, c);
    }
    return r;
}

void check_same(const Outcome& a, const Outcome& b) {
    CHECK(a.to_backend == b.to_backend);
    CHECK(a.to_client == b.to_client);
    CHECK(a.to_client_before_tls == b.to_client_before_tls);
    CHECK(a.start_tls == b.start_tls);
    CHECK(a.plaintext_fallback == b.plaintext_fallback);
    CHECK(a.close == b.close);
    CHECK(a.close_reason == b.close_reason);
    CHECK(a.discarded == b.discarded);
    CHECK(steady_log(a) == steady_log(b));
    CHECK(a.done == b.done);
}

Outcome run_all(const ClientPreludeSettings& settings, const std::vector<Step>& steps) {
    Outcome ref = run(settings, steps, whole);
    {
        INFO("byte by byte");
        check_same(run(settings, steps, bytewise), ref);
    }
    for (size_t s = 0; s < steps.size(); ++s) {
        for (size_t k = 1; k < steps[s].bytes.size(); ++k) {
            INFO("step " << s << " split at " << k);
            auto split = [s, k](size_t i, const std::string& b) {
                if (i != s) {
                    return std::vector<std::string>{b};
                }
                return std::vector<std::string>{b.substr(0, k), b.substr(k)};
            };
            check_same(run(settings, steps, split), ref);
        }
    }
    return ref;
}

bool has_log(const Outcome& r, config::LogLevel level, const std::string& text) {
    for (const auto& e : r.log) {
        if (e.level == level && e.message.find(text) != std::string::npos) {
            return true;
        }
    }
    return false;
}

} // namespace tlsgate::proto::prelude_test
