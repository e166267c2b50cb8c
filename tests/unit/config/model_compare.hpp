#pragma once

// Field-by-field comparison of two config models (locations aside: they differ between a
// stunnel.conf and the TOML written from it). Used by the round-trip tests.
#include "tlsgate/config/model.hpp"

#include <catch2/catch.hpp>

namespace tlsgate::test {

inline void check_same_tls(const config::TlsSettings& a, const config::TlsSettings& b) {
    CHECK(a.cert == b.cert);
    CHECK(a.key == b.key);
    CHECK(a.profile == b.profile);
    CHECK(a.ciphers == b.ciphers);
    CHECK(a.ciphersuites == b.ciphersuites);
    CHECK(a.min_version == b.min_version);
    CHECK(a.max_version == b.max_version);
    CHECK(a.groups == b.groups);
    CHECK(a.dhparam == b.dhparam);
    CHECK(a.verify == b.verify);
    CHECK(a.ca_file == b.ca_file);
    CHECK(a.ca_path == b.ca_path);
    CHECK(a.check_host == b.check_host);
    CHECK(a.sni == b.sni);
    CHECK(a.request_cert == b.request_cert);
    CHECK(a.require_cert == b.require_cert);
    CHECK(a.verify_chain == b.verify_chain);
    CHECK(a.verify_peer == b.verify_peer);
    CHECK(a.check_ip == b.check_ip);
    CHECK(a.check_email == b.check_email);
    CHECK(a.crl_file == b.crl_file);
    CHECK(a.crl_path == b.crl_path);
    CHECK(a.options_set == b.options_set);
    CHECK(a.options_clear == b.options_clear);
    CHECK(a.security_level == b.security_level);
    CHECK(a.renegotiation == b.renegotiation);
    CHECK(a.compression == b.compression);
    CHECK(a.tickets == b.tickets);
    CHECK(a.ticket_key_file == b.ticket_key_file);
    CHECK(a.ticket_rotation == b.ticket_rotation);
    CHECK(a.ticket_key_secret == b.ticket_key_secret);
    CHECK(a.ticket_mac_secret == b.ticket_mac_secret);
    CHECK(a.session_cache == b.session_cache);
    CHECK(a.session_cache_size == b.session_cache_size);
    CHECK(a.session_cache_timeout == b.session_cache_timeout);
    CHECK(a.session_resume == b.session_resume);
}

inline void check_same_service(const config::Service& a, const config::Service& b) {
    INFO("service " << a.name);
    CHECK(a.name == b.name);
    CHECK(a.listen == b.listen);
    CHECK(a.backends == b.backends);
    CHECK(a.failover == b.failover);
    CHECK(a.exec == b.exec);
    CHECK(a.exec_args == b.exec_args);
    CHECK(a.retry == b.retry);
    CHECK(a.inetd == b.inetd);
    CHECK(a.proxy_header == b.proxy_header);
    CHECK(a.local == b.local);
    CHECK(a.resolve_at_start == b.resolve_at_start);
    CHECK(a.reset == b.reset);
    REQUIRE(a.socket_options.size() == b.socket_options.size());
    for (size_t i = 0; i < a.socket_options.size(); ++i) {
        CHECK(a.socket_options[i].side == b.socket_options[i].side);
        CHECK(a.socket_options[i].name == b.socket_options[i].name);
        CHECK(a.socket_options[i].value == b.socket_options[i].value);
    }
    CHECK(a.sni_parent == b.sni_parent);
    CHECK(a.sni_pattern == b.sni_pattern);
    CHECK(a.strict_sni == b.strict_sni);
    CHECK(a.log_level == b.log_level);
    CHECK(a.protocol == b.protocol);
    CHECK(a.tls_mode == b.tls_mode);
    CHECK(a.client == b.client);
    CHECK(a.starttls_policy == b.starttls_policy);
    CHECK(a.auth_requires_tls == b.auth_requires_tls);
    CHECK(a.allow_xclient == b.allow_xclient);
    CHECK(a.early_talker == b.early_talker);
    CHECK(a.handshake_timeout == b.handshake_timeout);
    CHECK(a.connect_timeout == b.connect_timeout);
    CHECK(a.idle_timeout == b.idle_timeout);
    CHECK(a.plaintext_timeout == b.plaintext_timeout);
    CHECK(a.close_timeout == b.close_timeout);
    CHECK(a.max_errors == b.max_errors);
    CHECK(a.max_line == b.max_line);
    check_same_tls(a.tls, b.tls);
}

inline void check_same_config(const config::Config& a, const config::Config& b) {
    const auto& g = a.global;
    const auto& h = b.global;
    CHECK(g.workers == h.workers);
    CHECK(g.log_level == h.log_level);
    CHECK(g.log_target == h.log_target);
    CHECK(g.drain_timeout == h.drain_timeout);
    CHECK(g.daemon == h.daemon);
    CHECK(g.pid_file == h.pid_file);
    CHECK(g.user == h.user);
    CHECK(g.group == h.group);
    CHECK(g.chroot == h.chroot);
    CHECK(g.log_file == h.log_file);
    CHECK(g.log_append == h.log_append);
    CHECK(g.syslog_ident == h.syslog_ident);
    CHECK(g.fips == h.fips);
    REQUIRE(a.services.size() == b.services.size());
    for (size_t i = 0; i < a.services.size(); ++i) {
        check_same_service(a.services[i], b.services[i]);
    }
}

} // namespace tlsgate::test
