#include "tlsgate/proto/idle_tracker.hpp"

#include <catch2/catch.hpp>

using tlsgate::config::Protocol;
using tlsgate::proto::IdleTracker;

TEST_CASE("IMAP: tagged replies end commands; untagged lines, literals and IDLE do not",
          "[idle_tracker]") {
    auto t = IdleTracker::make(Protocol::imap);
    CHECK(t->between_commands());
    t->to_client("* OK ready\r\n");
    CHECK(t->between_commands());
    t->to_backend("a1 SELECT INBOX\r\na2 FETCH 1 BODY[]\r\n");
    CHECK_FALSE(t->between_commands());
    t->to_client("* 1 EXISTS\r\na1 OK done\r\n");
    CHECK_FALSE(t->between_commands()); // a2 still owed
    // A literal whose text looks like a tagged reply, and a ")" line after it.
    t->to_client("* 1 FETCH (BODY[] {15}\r\na2 OK not yet\r\n");
    CHECK_FALSE(t->between_commands());
    t->to_client(")\r\n");
    CHECK_FALSE(t->between_commands());
    t->to_client("a2 OK Fetch completed.\r");
    CHECK_FALSE(t->between_commands()); // mid-line
    t->to_client("\n");
    CHECK(t->between_commands());

    // IDLE: idle while waiting for DONE, also with untagged updates.
    t->to_backend("a3 IDLE\r\n");
    CHECK_FALSE(t->between_commands());
    t->to_client("+ idling\r\n");
    CHECK(t->between_commands());
    t->to_client("* 2 EXISTS\r\n");
    CHECK(t->between_commands());
    t->to_backend("DONE\r\n");
    CHECK_FALSE(t->between_commands());
    t->to_client("a3 OK Idle completed.\r\n");
    CHECK(t->between_commands());
    CHECK(t->goodbye() == "* BYE Server shutting down.\r\n");
}

TEST_CASE("IMAP: a synchronising literal and a SASL exchange are one command each",
          "[idle_tracker]") {
    auto t = IdleTracker::make(Protocol::imap);
    t->to_backend("a1 APPEND INBOX {9}\r\n");
    t->to_client("+ Ready for literal data\r\n");
    CHECK_FALSE(t->between_commands());
    t->to_backend("a2 NOOP\r\n"); // literal bytes, not a command
    CHECK_FALSE(t->between_commands());
    t->to_backend("\r\n");
    t->to_client("a1 OK Append completed.\r\n");
    CHECK(t->between_commands());

    t->to_backend("a2 AUTHENTICATE PLAIN\r\n");
    t->to_client("+ \r\n");
    t->to_backend("AGFsaWNlAHNlY3JldA==\r\n");
    CHECK_FALSE(t->between_commands());
    t->to_client("a2 OK Logged in\r\n");
    CHECK(t->between_commands());
}

TEST_CASE("SMTP: final reply lines end commands; a DATA body is in the middle of one",
          "[idle_tracker]") {
    auto t = IdleTracker::make(Protocol::smtp);
    t->to_client("220 mx ESMTP\r\n");
    CHECK(t->between_commands());
    t->to_backend("EHLO c\r\n");
    t->to_client("250-mx\r\n250-PIPELINING\r\n");
    CHECK_FALSE(t->between_commands());
    t->to_client("250 8BITMIME\r\n");
    CHECK(t->between_commands());
    t->to_backend("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n");
    t->to_client("250 ok\r\n250 ok\r\n354 go ahead\r\n");
    CHECK_FALSE(t->between_commands());
    t->to_backend("QUIT\r\nSubject: hi\r\n\r\n");
    CHECK_FALSE(t->between_commands());
    t->to_backend(".\r\n");
    CHECK_FALSE(t->between_commands());
    t->to_client("250 queued\r\n");
    CHECK(t->between_commands());
    t->to_backend("BDAT 5 LAST\r\n");
    t->to_backend("ab\r\n");
    CHECK_FALSE(t->between_commands());
    t->to_backend("c");
    t->to_client("250 queued\r\n");
    CHECK(t->between_commands());
    CHECK(t->goodbye().rfind("421 4.3.2 ", 0) == 0);
}

TEST_CASE("POP3: multi-line replies run to their dot line", "[idle_tracker]") {
    auto t = IdleTracker::make(Protocol::pop3);
    t->to_client("+OK ready\r\n");
    CHECK(t->between_commands());
    t->to_backend("RETR 1\r\nLIST 1\r\n");
    t->to_client("+OK 10 octets\r\n+OK looks like a reply\r\n");
    CHECK_FALSE(t->between_commands());
    t->to_client(".\r\n");
    CHECK_FALSE(t->between_commands()); // LIST 1 owed
    t->to_client("+OK 1 10\r\n");
    CHECK(t->between_commands());
    t->to_backend("RETR 9\r\n");
    t->to_client("-ERR no such message\r\n");
    CHECK(t->between_commands());
    CHECK(t->goodbye().empty());
}

TEST_CASE("raw has no tracker", "[idle_tracker]") {
    CHECK(IdleTracker::make(Protocol::raw) == nullptr);
}
