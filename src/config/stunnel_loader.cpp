// The stunnel.conf front end: stunnel 5's file format and option names, mapped onto the one
// config model. Where stunnel's meaning and tlsgate's differ, a start note says so; where
// stunnel's default is weaker than bettercrypto B (ciphers, renegotiation, minimum version),
// tlsgate's hardened default stands unless the file asks explicitly.
#include "stunnel_parts.hpp"
#include "tlsgate/config/read_file.hpp"
#include "tlsgate/config/validate.hpp"

#include <cstring>
#include <tuple>

namespace tlsgate::config {

namespace stunnel_conf {

using std::chrono::seconds;

void StunnelLoader::finish_service(ServiceState& st) {
    Service& svc = st.svc;
    TlsSettings& tls = svc.tls;
    const std::string& prefix = st.prefix;

    // key defaults to cert (one PEM file holding both), as stunnel.
    if (!tls.cert.empty() && tls.key.empty()) {
        tls.key = tls.cert;
        tls.where["key"] = tls.locate("cert");
    }
    if (st.sni) {
        const Option& o = *st.sni;
        const std::string key = prefix + ".sni";
        if (svc.client) {
            if (o.value.empty()) {
                error(o.where, key,
                      "an empty sni (no SNI extension) is not supported by tlsgate; remove the "
                      "line to send the backend's host name");
            } else {
                tls.sni = o.value;
                tls.where["sni"] = o.where;
            }
        } else {
            size_t colon = o.value.find(':');
            if (colon == std::string::npos || colon == 0 || colon + 1 == o.value.size()) {
                error(o.where, key,
                      fmt::format("expected SERVICE:SERVER_NAME_PATTERN in server mode, got "
                                  "\"{}\"",
                                  o.value));
            } else {
                svc.sni_parent = o.value.substr(0, colon);
                svc.sni_pattern = o.value.substr(colon + 1);
                svc.where["sni_parent"] = o.where;
                svc.where["sni_pattern"] = o.where;
            }
        }
    }

    // After a failed include, what is missing may well be in the files not read.
    const bool complete = !include_failed_;
    if (svc.inetd && st.have_accept) {
        error(svc.locate("listen"), prefix + ".accept",
              "inetd mode (no [section]) takes its connection on stdin/stdout; remove accept");
    } else if (svc.sni_parent && st.have_accept) {
        error(svc.locate("listen"), prefix + ".accept",
              "an SNI service is reached through its parent's accept; remove accept");
    } else if (!svc.inetd && !svc.sni_parent && !st.have_accept && !st.failed.count("accept") &&
               !st.failed.count("sni") && complete) {
        error(svc.section, prefix + ".accept", "missing accept");
    }
    if (svc.exec && st.have_connect) {
        error(svc.locate("exec"), prefix + ".exec",
              "exec with connect (a program as the local end, stunnel's local mode) is not "
              "supported by tlsgate; set either connect or exec, not both");
    } else if (!svc.exec && !st.have_connect && !st.failed.count("exec") &&
               !st.failed.count("protocol") && complete) {
        // Not after a refused protocol: socks and connect take no connect line, and "missing
        // connect" would only hide the real error.
        error(svc.section, prefix + ".connect", "missing connect (or exec)");
    }
    if (svc.exec && svc.exec_args.empty()) {
        svc.exec_args.push_back(fs::path(*svc.exec).filename().string());
    }
    if (!svc.client && tls.cert.empty() && !st.failed.count("client") && !st.failed.count("cert") &&
        complete) {
        error(svc.section, prefix + ".cert", "no certificate: server mode needs cert");
    }

    // Client mode: stunnel checks nothing unless told; tlsgate verifies the server's chain and
    // name by default (the whole point of originating TLS). Only an explicit verify,
    // verifyChain, verifyPeer or requireCert restores stunnel's behaviour.
    if (svc.client && !st.verify_explicit) {
        tls.verify_chain = true;
        tls.require_cert = true;
        note(fmt::format("{}: client mode verifies the server's certificate chain (system trust "
                         "store unless CAfile/CApath) and host name (checkHost, default the "
                         "connect host); stunnel checks nothing by default: set verifyChain = no "
                         "to get that",
                         prefix));
    }
    // The model's summary switch, as the TOML loader makes it.
    tls.verify = tls.verify_chain || tls.verify_peer ? VerifyMode::peer : VerifyMode::none;
    if (svc.client && tls.verify == VerifyMode::none) {
        warning(svc.section, prefix + ".verifyChain",
                "the server's certificate is not checked (stunnel's default); anyone on the path "
                "can read and change the traffic: add verifyChain = yes, CAfile or CApath, and "
                "checkHost");
    }
    // stunnel's STARTTLS server refuses a client that does not ask for TLS; so does tlsgate.
    svc.starttls_policy = StarttlsPolicy::encrypt;

    if (svc.protocol != Protocol::raw && !svc.client) {
        note(fmt::format("{}: protocol = {}: tlsgate answers STARTTLS itself, rewrites the "
                         "capabilities and refuses logins before TLS (stricter than stunnel)",
                         prefix, to_string(svc.protocol)));
    }
    if (!svc.where.count("resolve_at_start") && !svc.exec &&
        std::any_of(svc.backends.begin(), svc.backends.end(), [](const net::Address& a) {
            // localhost comes from /etc/hosts, not DNS: when it is resolved does not matter.
            return a.kind == net::Address::Kind::tcp && !a.host_is_ip && a.host != "localhost";
        })) {
        note(fmt::format("{}: delay is not set: tlsgate resolves connect host names for every "
                         "connection (stunnel resolves them at start); delay = no restores that",
                         prefix));
    }
}

namespace {

std::string ordinal(size_t n) {
    switch (n) {
    case 2:
        return "second";
    case 3:
        return "third";
    default:
        return fmt::format("{}th", n);
    }
}

} // namespace

// The service, then one copy per further accept line: "NAME.2" listens on the second, ...
// Each copy logs and counts under its own name; a reload maps them by name as any service.
void StunnelLoader::expand_accepts(ServiceState& st, std::vector<Service>& services) {
    const std::string name = st.svc.name;
    std::vector<Service> copies;
    std::vector<std::string> names{name};
    if (!st.svc.inetd && !st.svc.sni_parent) {
        for (size_t i = 0; i < st.extra_accepts.size(); ++i) {
            const auto& [address, where] = st.extra_accepts[i];
            std::string copy_name = fmt::format("{}.{}", name, i + 2);
            if (std::any_of(sections_.begin(), sections_.end(),
                            [&](const Section& s) { return s.name == copy_name; })) {
                error(where, st.prefix + ".accept",
                      fmt::format("the {} accept runs as service \"{}\", which is also a section "
                                  "name; rename that section",
                                  ordinal(i + 2), copy_name));
                continue;
            }
            Service copy = st.svc;
            copy.name = copy_name;
            copy.listen = address;
            copy.where["listen"] = where;
            copies.push_back(std::move(copy));
            names.push_back(copy_name);
        }
    }
    if (!copies.empty()) {
        accept_copies_[name] = copies.size();
        note(fmt::format("{}: {} accept lines: tlsgate runs one service per accept ({}); log "
                         "lines and counters are per accept",
                         st.prefix, names.size(), fmt::join(names, ", ")));
    }
    services.push_back(std::move(st.svc));
    for (auto& copy : copies) {
        services.push_back(std::move(copy));
    }
}

// An SNI service of a parent with several accepts is copied too, one per copy of the parent
// ("CHILD.2" under "PARENT.2"), so every accept routes by server name alike.
void StunnelLoader::follow_parents_onto_every_accept(std::vector<Service>& services) {
    std::vector<Service> children;
    for (const Service& s : services) {
        if (!s.sni_parent) {
            continue;
        }
        auto it = accept_copies_.find(*s.sni_parent);
        if (it == accept_copies_.end()) {
            continue;
        }
        for (size_t k = 2; k <= it->second + 1; ++k) {
            Service child = s;
            child.name = fmt::format("{}.{}", s.name, k);
            child.sni_parent = fmt::format("{}.{}", *s.sni_parent, k);
            children.push_back(std::move(child));
        }
    }
    for (auto& child : children) {
        services.push_back(std::move(child));
    }
}

StunnelLoad StunnelLoader::run(std::string_view text) {
    sections_.push_back(Section{"", Location{file_, 0}, {}});
    lex(text, file_, 0);

    Config cfg;
    cfg.source_file = file_;
    cfg.format = ConfigFormat::stunnel;
    Global& g = cfg.global;
    g.log_level = LogLevel::notice; // stunnel's default level
    g.daemon = true;                // stunnel's default: foreground = no
    bool compression = false;
    std::optional<Option> foreground, syslog;

    // Global options; service options there are defaults for every section, applied below.
    const Section& global = sections_.front();
    for (const Option& o : global.options) {
        const std::string key = "global." + o.name;
        if (!o.spec) {
            error(o.where, key, fmt::format("unknown option \"{}\"", o.name));
        } else if (o.spec->kind == Kind::ignored) {
            warning(o.where, key, fmt::format("{} has no meaning for tlsgate; ignored", o.name));
        } else if (o.spec->kind == Kind::unsupported) {
            if (is_harmless_default(o.name, lower(o.value))) {
                warning(
                    o.where, key,
                    fmt::format("{} = {} is what tlsgate does anyway; ignored", o.name, o.value));
            } else {
                error(o.where, key, unsupported_message(*o.spec));
            }
        } else if (o.name == "foreground") {
            foreground = o;
        } else if (o.name == "syslog") {
            syslog = o;
        } else if (o.spec->kind == Kind::global || o.spec->kind == Kind::both) {
            apply_global(o, g, compression);
        }
    }

    // stunnel writes the pid file after chroot, so its path names a file inside the jail
    // (Debian: chroot = /var/lib/stunnel4/, pid = /stunnel4.pid). tlsgate writes it before
    // chroot (while privileged): the model carries the host's path of that file.
    if (g.chroot && g.pid_file) {
        auto last_pid = std::find_if(global.options.rbegin(), global.options.rend(),
                                     [](const Option& o) { return o.name == "pid"; });
        fs::path inside = fs::path(last_pid->value).relative_path();
        g.pid_file = (fs::path(*g.chroot) / inside).lexically_normal().string();
        note(fmt::format("pid = {} with chroot = {}: the pid file is {} (inside the jail, as "
                         "stunnel writes it)",
                         last_pid->value, *g.chroot, *g.pid_file));
    }

    // foreground and syslog together decide daemonising and the log target.
    bool use_syslog = true;
    if (syslog) {
        if (auto b = yes_no(*syslog, "global.syslog")) {
            use_syslog = *b;
        }
    }
    std::string fg = foreground ? lower(foreground->value) : "no";
    if (!foreground) {
        note("foreground is not set: tlsgate daemonises, as stunnel does (under systemd "
             "Type=simple set foreground = yes)");
    } else if (fg != "yes" && fg != "no" && fg != "quiet") {
        error(foreground->where, "global.foreground",
              fmt::format("expected yes, quiet or no, got \"{}\"", foreground->value));
    } else {
        g.where["daemon"] = foreground->where;
    }
    g.daemon = fg == "no";
    if (fg == "yes") {
        g.log_target = LogTarget::stderr_stream;
        g.where["log"] = foreground->where;
        if (use_syslog && !g.log_file) {
            note("foreground = yes: tlsgate logs to stderr only (stunnel logs to syslog as "
                 "well)");
        }
    } else {
        g.log_target = use_syslog ? LogTarget::syslog : LogTarget::stderr_stream;
        if (syslog) {
            g.where["log"] = syslog->where;
        }
    }

    if (g.log_file && fg == "yes") {
        note(fmt::format("foreground = yes with output = {}: tlsgate logs to that file instead "
                         "of stderr (stunnel writes both)",
                         *g.log_file));
    }

    // Services: the global defaults first, then the section's own lines, as stunnel.
    const bool inetd = sections_.size() == 1;
    std::vector<const Section*> service_sections;
    Section inetd_section{"inetd", Location{file_, 0}, {}};
    if (inetd) {
        service_sections.push_back(&inetd_section);
        note("no [section]: inetd mode, one connection on stdin/stdout (service \"inetd\")");
    } else {
        for (size_t i = 1; i < sections_.size(); ++i) {
            service_sections.push_back(&sections_[i]);
        }
    }
    bool any_default_ciphers = false, any_default_renegotiation = false,
         any_default_min_version = false, any_default_busy = false;
    for (const Section* section : service_sections) {
        ServiceState st;
        st.prefix = fmt::format("service[{}]", section->name);
        st.svc.name = section->name;
        st.svc.section = section->where;
        st.svc.tls.section = section->where;
        st.svc.where["name"] = section->where;
        st.svc.inetd = inetd;
        if (inetd) {
            st.svc.where["inetd"] = section->where;
        }
        // stunnel's defaults where they are not weaker than tlsgate's.
        st.svc.connect_timeout = seconds(10);
        st.svc.idle_timeout = seconds(43200);
        st.svc.close_timeout = seconds(60);
        for (const Option& o : global.options) {
            if (o.spec && o.spec->kind == Kind::service) {
                apply_service(o, st, true);
            }
        }
        st.single_seen.clear();
        for (const Option& o : section->options) {
            const std::string key = st.prefix + "." + o.name;
            if (!o.spec) {
                error(o.where, key, fmt::format("unknown option \"{}\"", o.name));
            } else if (o.spec->kind == Kind::ignored) {
                warning(o.where, key,
                        fmt::format("{} has no meaning for tlsgate; ignored", o.name));
            } else if (o.spec->kind == Kind::unsupported) {
                if (is_harmless_default(o.name, lower(o.value))) {
                    warning(o.where, key,
                            fmt::format("{} = {} is what tlsgate does anyway; ignored", o.name,
                                        o.value));
                } else {
                    error(o.where, key, unsupported_message(*o.spec));
                }
            } else if (o.name == "service") {
                warning(o.where, key, "service only has an effect in the global section");
            } else if (o.name == "setuid" || o.name == "setgid") {
                error(o.where, key,
                      fmt::format("{} in a service (the owner of a unix socket accept) is not "
                                  "supported by tlsgate; as a global option it drops privileges",
                                  o.name));
            } else if (o.spec->kind == Kind::global) {
                error(o.where, key,
                      fmt::format("{} is a global option in tlsgate; move it before the first "
                                  "[section]",
                                  o.name));
            } else {
                apply_service(o, st, false);
            }
        }
        st.svc.tls.compression = compression;
        finish_service(st);
        any_default_ciphers |= !st.svc.tls.where.count("ciphers");
        any_default_renegotiation |= !st.svc.tls.where.count("renegotiation");
        any_default_min_version |= !st.svc.tls.where.count("min_version");
        any_default_busy |= !st.busy_explicit;
        expand_accepts(st, cfg.services);
    }
    follow_parents_onto_every_accept(cfg.services);

    if (any_default_ciphers) {
        note("ciphers is not set: tlsgate uses bettercrypto's cipher string B (stunnel's default "
             "HIGH:!aNULL:!SSLv2:!DH:!kDHEPSK allows weaker suites)");
    }
    if (any_default_renegotiation) {
        note("renegotiation is not set: tlsgate refuses client-initiated renegotiation (stunnel "
             "allows it by default)");
    }
    if (any_default_min_version) {
        note("sslVersionMin is not set: tlsgate requires TLS 1.2 or newer (stunnel accepts "
             "TLSv1)");
    }
    note(fmt::format("timeouts: TIMEOUTbusy is the TLS handshake (and client-mode STARTTLS) "
                     "limit{}, TIMEOUTconnect the backend connect, TIMEOUTidle the idle limit, "
                     "TIMEOUTclose the wait for close_notify/FIN after ours; tlsgate also limits "
                     "the plaintext phase before STARTTLS (plaintext_timeout 60 s)",
                     any_default_busy ? " (not set: 10 s, stunnel's default is 300 s)" : ""));
    if (relative_paths_) {
        note(fmt::format("relative paths are resolved against {} (the config file's directory), "
                         "not the working directory",
                         base_dir_.string()));
    }

    std::vector<ConfigError> cross;
    validate_config(cfg, cross);
    for (auto& e : cross) {
        error(e.where, std::move(e.key), std::move(e.message));
    }

    // The main file first, then included files, each by line.
    auto by_place = [this](const ConfigError& a, const ConfigError& b) {
        auto rank = [this](const ConfigError& e) {
            return std::make_tuple(e.where.file != file_, std::cref(e.where.file), e.where.line);
        };
        return rank(a) < rank(b);
    };
    std::stable_sort(errors_.begin(), errors_.end(), by_place);
    std::stable_sort(warnings_.begin(), warnings_.end(), by_place);
    StunnelLoad out;
    if (errors_.empty()) {
        out.result.config = std::move(cfg);
    } else {
        out.result.partial = std::move(cfg);
    }
    out.result.errors = std::move(errors_);
    out.result.warnings = std::move(warnings_);
    out.notes = std::move(notes_);
    return out;
}

} // namespace stunnel_conf

using stunnel_conf::StunnelLoader;

StunnelLoad load_stunnel_string(std::string_view text, const std::string& file_name) {
    StunnelLoader loader(file_name);
    return loader.run(text);
}

StunnelLoad load_stunnel_file(const std::string& file_name) {
    std::string text;
    if (int err = read_whole_file(file_name, text)) {
        StunnelLoad out;
        out.result.errors.push_back(ConfigError{
            Location{file_name, 0}, "", fmt::format("cannot read file: {}", std::strerror(err))});
        return out;
    }
    return load_stunnel_string(text, file_name);
}

} // namespace tlsgate::config