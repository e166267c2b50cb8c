#pragma once

// The TOML keys, one declarative table per section. Each entry says how its value is read
// (through TomlReader, with its messages), written as TOML text and what the loader leaves in
// place when the key is absent. The tables drive the TOML loader, the writer behind
// --print-toml (which prints only what differs from that default), the reload comparison of
// [global] and the key reference (docs/config-keys.md, tlsgate --print-keys). Adding a key
// is adding one entry here (and its field in model.hpp).
#include "toml_reader.hpp"

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tlsgate::config {

// What a reload does with a changed [global] key.
enum class OnReload { applies, needs_restart };

template <class Owner> struct Key {
    std::string_view name;
    std::string type; // for the reference: "boolean", "integer 0..1024", ...
    std::string_view doc;
    // Reads the value into `owner`; false when it is wrong (the reader has the error).
    std::function<bool(TomlReader&, const toml::node&, const std::string& key, Owner& owner)> read;
    // The value as TOML text; nullopt when unset, or when the key is not written at all.
    std::function<std::optional<std::string>(const Owner&)> write;
    // The value the loader leaves in place when the key is absent, as TOML text: the field's
    // default, or for a few service keys a value derived from other keys.
    std::function<std::optional<std::string>(const Owner&)> default_value;
    std::string_view derived_default; // for the reference, when the default is derived
    OnReload on_reload = OnReload::applies;

    // Whether the writer must write this key for `owner` to load back the same.
    bool differs_from_default(const Owner& owner) const {
        return write(owner) != default_value(owner);
    }
};

// [global]
const std::vector<Key<Global>>& global_keys();
// [tls] and the same keys in a [[service]]; the owner is a service (some defaults depend on
// client mode), [tls] is read into a service's TLS settings.
const std::vector<Key<Service>>& tls_keys();
// The other [[service]] keys, "name" first.
const std::vector<Key<Service>>& service_keys();

template <class Owner>
const Key<Owner>* find_key(const std::vector<Key<Owner>>& keys, std::string_view name) {
    for (const auto& k : keys) {
        if (k.name == name) {
            return &k;
        }
    }
    return nullptr;
}

// Defaults derived from other keys, used by the loader when the key is absent.
StarttlsPolicy default_starttls_policy(const Service& s);
EarlyTalker default_early_talker(const Service& s);

// A TLS version's canonical TOML name ("TLSv1.2").
std::string_view tls_version_name(TlsVersion v);

// TOML text.
std::string toml_quote(std::string_view s);
std::string toml_list(const std::vector<std::string>& items);

} // namespace tlsgate::config
