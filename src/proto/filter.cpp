#include "tlsgate/proto/filter.hpp"

#include "tlsgate/proto/imap_filter.hpp"
#include "tlsgate/proto/pop3_filter.hpp"
#include "tlsgate/proto/smtp_filter.hpp"

namespace tlsgate::proto {

std::unique_ptr<ServerFilter> make_server_filter(const FilterSettings& settings) {
    switch (settings.protocol) {
    case config::Protocol::imap:
        return std::make_unique<ImapFilter>(settings);
    case config::Protocol::pop3:
        return std::make_unique<Pop3Filter>(settings);
    case config::Protocol::smtp:
        return std::make_unique<SmtpFilter>(settings);
    case config::Protocol::raw:
        break;
    }
    return nullptr;
}

} // namespace tlsgate::proto
