#include "tlsgate/config/toml_loader.hpp"

#include "key_table.hpp"
#include "tlsgate/config/read_file.hpp"
#include "tlsgate/config/validate.hpp"
#include "toml_reader.hpp"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <set>
#include <toml++/toml.h>

namespace tlsgate::config {

namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// The loader

class Loader : public TomlReader {
public:
    explicit Loader(const std::string& file_name) : TomlReader(file_name) {}

    LoadResult run(const toml::table& root);
    LoadResult finish(std::optional<Config> config);

private:
    struct ServiceInfo {
        bool name_ok = false;
    };

    // Reads the keys of table `t` that `keys` has into `owner`, marking each that was read
    // in `where` and each that was there in `present`. Keys for which `elsewhere` is true
    // are left alone; any other key is unknown.
    template <class Owner>
    void read_keys(const toml::table& t, const std::vector<Key<Owner>>& keys,
                   const std::string& prefix, Owner& owner, std::map<std::string, Location>& where,
                   std::set<std::string>& present,
                   const std::function<bool(std::string_view)>& elsewhere = nullptr,
                   std::set<std::string>* unparsed = nullptr);
    void load_global(const toml::node& n, Global& g);
    void load_tls(const toml::node& n, TlsSettings& s);
    void check_tls(const TlsSettings& s, const std::set<std::string>& overridden,
                   const std::string& prefix, bool is_service, bool client);
    void load_services(const toml::node& n, const TlsSettings& defaults, Config& cfg);
    Service load_service(const toml::table& t, size_t index, const TlsSettings& defaults,
                         ServiceInfo& info);
};

template <class Owner>
void Loader::read_keys(const toml::table& t, const std::vector<Key<Owner>>& keys,
                       const std::string& prefix, Owner& owner,
                       std::map<std::string, Location>& where, std::set<std::string>& present,
                       const std::function<bool(std::string_view)>& elsewhere,
                       std::set<std::string>* unparsed) {
    for (auto&& [k, v] : t) {
        const std::string name(k.str());
        const std::string key = prefix + "." + name;
        const Key<Owner>* spec = find_key(keys, name);
        if (!spec && elsewhere && elsewhere(name)) {
            continue;
        }
        if (!spec) {
            // A service reads two tables (TLS and service keys): a typo may be near either.
            std::vector<std::string_view> known;
            for (const auto& candidate : keys) {
                known.push_back(candidate.name);
            }
            if constexpr (std::is_same_v<Owner, Service>) {
                if (elsewhere) {
                    const auto& other = &keys == &tls_keys() ? service_keys() : tls_keys();
                    for (const auto& candidate : other) {
                        known.push_back(candidate.name);
                    }
                }
            }
            unknown_key(k, v, key, known);
            continue;
        }
        present.insert(name);
        if (spec->read(*this, v, key, owner)) {
            where[name] = loc(v);
        } else if (unparsed) {
            unparsed->insert(name);
        }
    }
}

void Loader::load_global(const toml::node& n, Global& g) {
    const auto* t = n.as_table();
    if (!t) {
        type_error(n, "global", "a table");
        return;
    }
    std::set<std::string> present;
    read_keys(*t, global_keys(), "global", g, g.where, present);
}

void Loader::load_tls(const toml::node& n, TlsSettings& s) {
    const auto* t = n.as_table();
    if (!t) {
        type_error(n, "tls", "a table");
        return;
    }
    s.section = loc(n);
    // The TLS key table reads into a service: [tls] is a service's TLS settings alone.
    Service holder;
    holder.tls = std::move(s);
    std::set<std::string> present;
    read_keys(*t, tls_keys(), "tls", holder, holder.tls.where, present, nullptr,
              &holder.tls.unparsed);
    s = std::move(holder.tls);
    check_tls(s, {}, "tls", false, false);
    std::vector<ConfigError> rules;
    validate_tls(s, "tls", ConfigFormat::toml, rules);
    for (auto& e : rules) {
        error(e.where.line, std::move(e.key), std::move(e.message));
    }
}

// Consistency checks on (merged) TLS settings that depend on how [tls] and a service combine
// (validate_tls has the rest). For [tls] itself only checks that do not
// depend on a service run; for a service, checks that only involve inherited keys are left
// to the [tls] pass so the same problem is not reported once per service.
void Loader::check_tls(const TlsSettings& s, const std::set<std::string>& overridden,
                       const std::string& prefix, bool is_service, bool client) {
    auto touched = [&](std::initializer_list<const char*> keys) {
        if (!is_service) {
            return true;
        }
        return std::any_of(keys.begin(), keys.end(),
                           [&](const char* k) { return overridden.count(k) > 0; });
    };
    // [tls] alone may hold only one of cert/key (services complete it); when it holds both,
    // a mismatch is reported there and not again for every service that inherits it.
    bool inherited_mismatch = !s.cert.empty() && !s.key.empty();
    if (s.cert.size() != s.key.size() &&
        (is_service ? touched({"cert", "key"}) || !inherited_mismatch : inherited_mismatch)) {
        error(s.locate("key").line, prefix + ".key",
              fmt::format("{} cert file(s) but {} key file(s); each cert needs its key",
                          s.cert.size(), s.key.size()));
    }
    if (!s.tickets && (s.ticket_key_file || s.ticket_key_secret) &&
        touched({"tickets", "ticket_key_file", "ticket_key_secret"})) {
        warning(s.locate("tickets").line, prefix + ".tickets",
                "tickets = false: the ticket keys set here are not used");
    }
    if (s.ticket_key_file && s.ticket_key_secret &&
        touched({"ticket_key_file", "ticket_key_secret"})) {
        error(s.locate("ticket_key_file").line, prefix + ".ticket_key_file",
              "set either ticket_key_file or ticket_key_secret/ticket_mac_secret, not both");
    }
    if (!is_service) {
        return;
    }
    if (s.cert.empty() && !client) {
        error(s.locate("cert").line, prefix + ".cert",
              "no certificate: set cert and key in [tls] or in the service (only client = true "
              "services may go without)");
    }
    if (s.profile == TlsProfile::custom && !s.ciphers) {
        error(s.locate("profile").line, prefix + ".profile",
              "profile \"custom\" requires \"ciphers\" to be set");
    }
}

// Makes the peer-certificate switches concrete. Client mode verifies the server by default
// (verify = "peer"); server mode asks for no client certificate unless told to.
void finalize_verification(TlsSettings& s, bool client) {
    const bool explicit_verify = s.where.count("verify") > 0;
    const bool peer = s.verify == VerifyMode::peer;
    if ((client || explicit_verify) && !s.where.count("verify_chain")) {
        s.verify_chain = peer;
    }
    if ((client || explicit_verify) && !s.where.count("require_cert")) {
        s.require_cert = peer;
    }
    if (!client && (s.verify_chain || s.verify_peer || s.require_cert)) {
        s.request_cert = true;
    }
    s.verify = s.verify_chain || s.verify_peer ? VerifyMode::peer : VerifyMode::none;
}

Service Loader::load_service(const toml::table& t, size_t index, const TlsSettings& defaults,
                             ServiceInfo& info) {
    Service svc;
    svc.section = loc(t);
    svc.tls = defaults;
    svc.tls.section = svc.section;

    // The name first: every other message is labelled with it.
    std::string prefix = fmt::format("service[#{}]", index + 1);
    if (const toml::node* n = t.get("name")) {
        if (find_key(service_keys(), "name")->read(*this, *n, prefix + ".name", svc)) {
            svc.where["name"] = loc(*n);
            prefix = fmt::format("service[{}]", svc.name);
            info.name_ok = true;
        }
    } else {
        error(svc.section.line, prefix + ".name", "missing required key \"name\"");
    }

    // Each key is a TLS key (overriding [tls]) or a service key.
    std::set<std::string> overridden, present;
    auto is_service_key = [](std::string_view k) { return find_key(service_keys(), k) != nullptr; };
    auto is_tls_key = [](std::string_view k) { return find_key(tls_keys(), k) != nullptr; };
    read_keys(t, tls_keys(), prefix, svc, svc.tls.where, overridden, is_service_key,
              &svc.tls.unparsed);
    read_keys(t, service_keys(), prefix, svc, svc.where, present, is_tls_key);
    // "name" is read again by the second call: the same value, or the same error (reported
    // once).
    for (const auto& k : tls_keys()) {
        if (!overridden.count(std::string(k.name))) {
            svc.tls.not_set_here.insert(std::string(k.name));
        }
    }
    const bool have_listen = present.count("listen") > 0;
    const bool have_backend = present.count("backend") > 0;
    const bool have_policy = present.count("starttls_policy") > 0;
    const bool have_early = present.count("early_talker") > 0;

    if (!have_listen && !svc.inetd && !svc.sni_parent) {
        error(svc.section.line, prefix + ".listen", "missing required key \"listen\"");
    }
    if (have_listen && svc.inetd) {
        error(svc.locate("inetd").line, prefix + ".inetd",
              "an inetd service takes its connection on stdin/stdout; remove \"listen\"");
    }
    if (have_listen && svc.sni_parent) {
        error(svc.locate("sni_parent").line, prefix + ".sni_parent",
              "an SNI service is reached through its parent's listener; remove \"listen\"");
    }
    if (!have_backend && !svc.exec) {
        error(svc.section.line, prefix + ".backend",
              "missing required key \"backend\" (or \"exec\")");
    }
    if (have_backend && svc.exec) {
        error(svc.locate("exec").line, prefix + ".exec",
              "set either \"backend\" or \"exec\", not both");
    }
    if (svc.exec && svc.exec_args.empty()) {
        svc.exec_args.push_back(fs::path(*svc.exec).filename().string());
    }
    finalize_verification(svc.tls, svc.client);
    if (!have_policy) {
        // Server side, port 25 stays opportunistic; client mode refuses plaintext unless
        // told otherwise.
        svc.starttls_policy = svc.protocol == Protocol::smtp && !svc.client
                                  ? StarttlsPolicy::may
                                  : StarttlsPolicy::encrypt;
    }
    if (!have_early) {
        // Port 25 (plaintext listener, opportunistic STARTTLS) is where bots talk first;
        // submission clients (587 "encrypt", 465 implicit TLS) are held instead.
        svc.early_talker =
            svc.tls_mode == TlsMode::starttls && svc.starttls_policy == StarttlsPolicy::may
                ? EarlyTalker::reject
                : EarlyTalker::hold;
    }
    if (svc.allow_xclient &&
        (svc.client || (svc.protocol != Protocol::smtp && svc.protocol != Protocol::pop3))) {
        error(svc.locate("allow_xclient").line, prefix + ".allow_xclient",
              "allow_xclient applies to server-side SMTP and POP3 services only (protocol = "
              "\"smtp\" or \"pop3\", client = false); remove it");
    }
    if (have_early && (svc.protocol != Protocol::smtp || svc.client)) {
        error(svc.locate("early_talker").line, prefix + ".early_talker",
              "early_talker applies to server-side SMTP services only (protocol = \"smtp\", "
              "client = false); remove it");
    }
    if (svc.client && svc.tls.verify == VerifyMode::none) {
        warning(svc.tls.locate("verify").line, prefix + ".verify",
                "verify = \"none\": the server's certificate is not checked; anyone on the path "
                "can read and change the traffic");
    }
    if (svc.client && svc.starttls_policy == StarttlsPolicy::may &&
        svc.protocol != Protocol::smtp && have_policy) {
        error(svc.locate("starttls_policy").line, prefix + ".starttls_policy",
              "starttls_policy = \"may\" is for SMTP only; IMAP and POP3 client mode always "
              "require TLS");
    }
    if (svc.tls_mode == TlsMode::starttls && svc.protocol == Protocol::raw) {
        error(svc.locate("tls").line, prefix + ".tls",
              "tls = \"starttls\" requires protocol \"imap\", \"pop3\" or \"smtp\" (protocol is "
              "\"raw\")");
    }
    check_tls(svc.tls, overridden, prefix, true, svc.client);
    return svc;
}

void Loader::load_services(const toml::node& n, const TlsSettings& defaults, Config& cfg) {
    const auto* arr = n.as_array();
    if (!arr) {
        type_error(n, "service", "an array of tables ([[service]])");
        return;
    }
    std::vector<ServiceInfo> infos;
    for (size_t i = 0; i < arr->size(); ++i) {
        const toml::node& el = *arr->get(i);
        const auto* t = el.as_table();
        if (!t) {
            type_error(el, fmt::format("service[#{}]", i + 1), "a table");
            continue;
        }
        ServiceInfo info;
        cfg.services.push_back(load_service(*t, i, defaults, info));
        infos.push_back(info);

        const Service& svc = cfg.services.back();
        for (size_t j = 0; j + 1 < cfg.services.size(); ++j) {
            const Service& prev = cfg.services[j];
            if (info.name_ok && infos[j].name_ok && prev.name == svc.name) {
                error(svc.locate("name").line, fmt::format("service[{}].name", svc.name),
                      fmt::format("duplicate service name \"{}\" (first defined at line {})",
                                  svc.name, prev.locate("name").line));
            }
        }
    }
}

LoadResult Loader::run(const toml::table& root) {
    Config cfg;
    cfg.source_file = file_;
    TlsSettings defaults;
    defaults.section = Location{file_, 0};

    // [tls] first: services inherit from it whatever the order in the file.
    if (const toml::node* n = root.get("tls")) {
        load_tls(*n, defaults);
    }
    bool have_services = false;
    for (auto&& [k, v] : root) {
        if (k.str() == "global") {
            load_global(v, cfg.global);
        } else if (k.str() == "tls") {
            continue;
        } else if (k.str() == "service") {
            load_services(v, defaults, cfg);
            have_services = !cfg.services.empty() || (v.as_array() && !v.as_array()->empty());
        } else {
            constexpr std::string_view tables[] = {"global", "tls", "service"};
            unknown_key(k, v, std::string(k.str()), tables);
        }
    }
    if (!have_services) {
        error(0, "service", "no [[service]] defined");
    }
    std::vector<ConfigError> cross;
    validate_config(cfg, cross);
    for (auto& e : cross) {
        error(e.where.line, std::move(e.key), std::move(e.message));
    }
    return finish(std::move(cfg));
}

LoadResult Loader::finish(std::optional<Config> config) {
    auto by_line = [](const ConfigError& a, const ConfigError& b) {
        return a.where.line < b.where.line;
    };
    std::stable_sort(errors_.begin(), errors_.end(), by_line);
    std::stable_sort(warnings_.begin(), warnings_.end(), by_line);
    LoadResult r;
    if (errors_.empty()) {
        r.config = std::move(config);
    } else {
        r.partial = std::move(config);
    }
    r.errors = std::move(errors_);
    r.warnings = std::move(warnings_);
    return r;
}

} // namespace

std::optional<Duration> parse_duration(std::string_view text) {
    auto r = parse_duration_detail(text);
    if (!r) {
        return std::nullopt;
    }
    return *r;
}

LoadResult load_toml_string(std::string_view text, const std::string& file_name) {
    Loader loader(file_name);
    toml::table root;
    try {
        root = toml::parse(text, std::string_view(file_name));
    } catch (const toml::parse_error& e) {
        const int line = static_cast<int>(e.source().begin.line);
        loader.error(line, key_at_line(text, line), std::string(e.description()));
        return loader.finish(std::nullopt);
    }
    return loader.run(root);
}

LoadResult load_toml_file(const std::string& file_name) {
    auto fail = [&](int err) {
        LoadResult r;
        r.errors.push_back(ConfigError{Location{file_name, 0}, "",
                                       fmt::format("cannot read file: {}", std::strerror(err))});
        return r;
    };
    std::string text;
    if (int err = read_whole_file(file_name, text)) {
        return fail(err);
    }
    return load_toml_string(text, file_name);
}

} // namespace tlsgate::config
