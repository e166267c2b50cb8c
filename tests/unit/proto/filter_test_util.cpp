#include "filter_test_util.hpp"

#include <catch2/catch.hpp>

namespace tlsgate::proto::test {

FilterSettings settings_for(config::Protocol protocol, bool implicit_tls,
                            config::StarttlsPolicy policy) {
    FilterSettings s;
    s.protocol = protocol;
    s.tls_active_from_start = implicit_tls;
    s.starttls_policy = policy;
    return s;
}

namespace {
void collect(Result& r, Actions& a) {
    r.to_backend += a.to_backend;
    r.to_client += a.to_client;
    r.start_tls += a.start_tls ? 1 : 0;
    r.close = r.close || a.close;
    for (auto& e : a.log) {
        r.log.push_back(e);
    }
    a = Actions{};
}
} // namespace

Result run(const FilterSettings& settings, const std::vector<Step>& steps, bool byte_by_byte) {
    auto f = make_server_filter(settings);
    REQUIRE(f);
    Result r;
    Actions a;
    for (const auto& step : steps) {
        if (r.close) {
            break;
        }
        if (step.kind == Step::Kind::tls) {
            f->on_tls_established(a);
            collect(r, a);
            continue;
        }
        std::vector<std::string> pieces;
        if (byte_by_byte) {
            for (char c : step.bytes) {
                pieces.emplace_back(1, c);
            }
        } else {
            pieces.push_back(step.bytes);
        }
        for (const auto& piece : pieces) {
            if (f->transparent()) {
                (step.kind == Step::Kind::client ? r.to_backend : r.to_client) += piece;
                continue;
            }
            if (step.kind == Step::Kind::client) {
                f->on_client_data(piece, a);
            } else {
                f->on_backend_data(piece, a);
            }
            collect(r, a);
        }
    }
    r.transparent = f->transparent();
    r.tls_active = f->tls_active();
    r.counters = f->counters();
    return r;
}

Result run_both(const FilterSettings& settings, const std::vector<Step>& steps) {
    Result whole = run(settings, steps, false);
    Result bytes = run(settings, steps, true);
    CHECK(bytes.to_client == whole.to_client);
    CHECK(bytes.to_backend == whole.to_backend);
    CHECK(bytes.start_tls == whole.start_tls);
    CHECK(bytes.close == whole.close);
    CHECK(bytes.transparent == whole.transparent);
    CHECK(bytes.counters.starttls_completed == whole.counters.starttls_completed);
    CHECK(bytes.counters.auth_refused_before_tls == whole.counters.auth_refused_before_tls);
    CHECK(bytes.counters.commands_refused == whole.counters.commands_refused);
    CHECK(bytes.counters.injected_bytes_discarded == whole.counters.injected_bytes_discarded);
    CHECK(bytes.counters.overlong_lines == whole.counters.overlong_lines);
    return whole;
}

bool logs_free_of(const Result& r, const std::string& secret) {
    for (const auto& e : r.log) {
        if (e.message.find(secret) != std::string::npos) {
            return false;
        }
    }
    return true;
}

} // namespace tlsgate::proto::test
