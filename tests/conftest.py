"""Fixtures, split by domain in tests/fixtures/ and loaded here as plugins: real PostgreSQL,
Redis and SMTP servers; an app per test on PostgreSQL (on SQLite too for `both_databases`);
clients; model factories; the Stripe emulator; the frozen clock."""

pytest_plugins = [
    "tests.fixtures.servers",
    "tests.fixtures.app",
    "tests.fixtures.factories",  # before clients, which import it
    "tests.fixtures.clients",
    "tests.fixtures.stripe",
    "tests.fixtures.clock",
    "tests.calendar_support",  # a feed server, a CalDAV server (Radicale)
    "tests.fixtures.oidc",
    "tests.fixtures.workers",  # the order files go out to pytest-xdist's workers
]
