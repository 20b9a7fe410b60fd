"""Configuration classes; every setting can come from the environment."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = Path(os.environ.get("PEEPOPAY_INSTANCE", ROOT / "instance"))

# Which variables production cannot run without, and which once real payments are on.
REQUIRED_IN_PRODUCTION = ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "BASE_URL")
REQUIRED_FOR_STRIPE = (
    "STRIPE_PUBLISHABLE_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "STRIPE_CONNECT_WEBHOOK_SECRET",
)
REQUIRED_FOR_TWILIO = ("TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER")


class ConfigError(RuntimeError):
    pass


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value else default


def _int(name: str, default: int) -> int:
    return int(_env(name) or default)


class Config:
    ENV_NAME = "base"
    SECRET_KEY = _env("SECRET_KEY")
    BASE_URL = _env("BASE_URL", "http://127.0.0.1:8080")
    SQLALCHEMY_DATABASE_URI = _env("DATABASE_URL", f"sqlite:///{INSTANCE / 'peepopay.db'}")
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}
    REDIS_URL = _env("REDIS_URL")
    RQ_QUEUE = _env("RQ_QUEUE", "peepopay")
    # A callable returning an aware UTC datetime that `clock.utcnow` asks instead of the wall
    # clock; tests freeze or move time with it. Never set in production.
    CLOCK = None

    SESSION_COOKIE_NAME = "__Host-session"
    SESSION_COOKIE_SECURE = True
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_NAME = "__Host-remember"
    REMEMBER_COOKIE_SECURE = True
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    # Marks a browser that has logged in before: it is let past the per-account login limit.
    DEVICE_COOKIE_NAME = "__Host-device"
    DEVICE_COOKIE_SECURE = True
    DEVICE_COOKIE_SAMESITE = "Lax"
    DEVICE_COOKIE_MAX_AGE = 365 * 24 * 3600
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    MAX_CONTENT_LENGTH = 4 * 1024 * 1024

    RATELIMIT_STORAGE_URI = _env("REDIS_URL", "memory://")
    # Said outright: the Limiter instance is shared, and an app without the setting inherits
    # whatever the last app created in this process chose (one with limits off turned them
    # off for every app after it).
    RATELIMIT_ENABLED = True
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    # No X-RateLimit-* headers: reading the window back for them costs two more Redis round
    # trips on every limited request (errors.py still sets Retry-After on every 429).
    RATELIMIT_HEADERS_ENABLED = False
    RATELIMIT_KEY_PREFIX = "peepopay-limits"
    # A Redis outage must not stall requests: fail fast, then count in memory until it is back.
    RATELIMIT_STORAGE_OPTIONS = {"socket_connect_timeout": 1, "socket_timeout": 1}
    RATELIMIT_SWALLOW_ERRORS = True
    LOGIN_LIMIT_PER_IP = _env("LOGIN_LIMIT_PER_IP", "20 per 5 minutes")
    LOGIN_LIMIT_PER_ACCOUNT = _env("LOGIN_LIMIT_PER_ACCOUNT", "5 per 5 minutes")
    SIGNUP_LIMIT_PER_IP = _env("SIGNUP_LIMIT_PER_IP", "5 per hour")
    # Wrong two-factor codes: per pending login, and per account across all its pending logins
    # (whoever has the password can start as many as they like, from as many addresses).
    TWO_FACTOR_LIMIT_PER_LOGIN = _env("TWO_FACTOR_LIMIT_PER_LOGIN", "5 per 5 minutes")
    TWO_FACTOR_LIMIT_PER_ACCOUNT = _env("TWO_FACTOR_LIMIT_PER_ACCOUNT", "20 per hour")
    # Live unpaid holds a tradie accepts from one client (an IPv6 one per /64), and on one day
    # of jobs: this percentage of the jobs the day has room for, at least one.
    HOLD_LIMIT_PER_CLIENT = _int("HOLD_LIMIT_PER_CLIENT", 2)
    HOLD_LIMIT_DAY_PERCENT = _int("HOLD_LIMIT_DAY_PERCENT", 50)

    # Number of reverse proxies in front of the app whose X-Forwarded-* we trust (Caddy = 1).
    TRUSTED_PROXIES = _int("TRUSTED_PROXIES", 1)
    # Where that proxy connects from (addresses or networks, comma-separated; gunicorn.conf.py
    # reads the same variable): any other peer's X-Forwarded-* headers are ignored.
    FORWARDED_ALLOW_IPS = _env("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

    SMTP_URL = _env("SMTP_URL")
    MAIL_FROM = _env("MAIL_FROM", "PeepoPay <no-reply@peepopay.local>")
    MAILBOX_DIR = _env("MAILBOX_DIR", str(INSTANCE / "mailbox"))
    # Customers' photos of the job (peepopay.bookings.photos.LocalPhotoStore).
    PHOTO_DIR = _env("PHOTO_DIR", str(INSTANCE / "photos"))
    OUTBOX_MAX_ATTEMPTS = _int("OUTBOX_MAX_ATTEMPTS", 8)
    # How long a worker holds a message it is sending before another may take it over.
    OUTBOX_LEASE_SECONDS = _int("OUTBOX_LEASE_SECONDS", 120)
    # How long the sweep leaves a new message to the enqueue-after-commit path.
    OUTBOX_SWEEP_GRACE_SECONDS = _int("OUTBOX_SWEEP_GRACE_SECONDS", 30)

    STRIPE_SECRET_KEY = _env("STRIPE_SECRET_KEY")
    STRIPE_PUBLISHABLE_KEY = _env("STRIPE_PUBLISHABLE_KEY")
    STRIPE_WEBHOOK_SECRET = _env("STRIPE_WEBHOOK_SECRET")
    STRIPE_CONNECT_WEBHOOK_SECRET = _env("STRIPE_CONNECT_WEBHOOK_SECRET")
    STRIPE_API_BASE = _env("STRIPE_API_BASE")
    # Where browsers reach the emulator's hosted pages (demo mode); STRIPE_API_BASE when unset.
    STRIPE_EMULATOR_PUBLIC_URL = _env("STRIPE_EMULATOR_PUBLIC_URL")
    PLATFORM_FEE_BPS = _int("PLATFORM_FEE_BPS", 250)

    TWILIO_ACCOUNT_SID = _env("TWILIO_ACCOUNT_SID")
    TWILIO_AUTH_TOKEN = _env("TWILIO_AUTH_TOKEN")
    TWILIO_FROM_NUMBER = _env("TWILIO_FROM_NUMBER")
    TWILIO_API_BASE = _env("TWILIO_API_BASE")  # tests point the SDK at a local endpoint

    # Calendars: how often feeds are fetched, and the limits of one fetch.
    CALENDAR_REFRESH_MINUTES = _int("CALENDAR_REFRESH_MINUTES", 5)
    CALENDAR_FETCH_TIMEOUT_SECONDS = float(_env("CALENDAR_FETCH_TIMEOUT_SECONDS", "10") or 10)
    CALENDAR_FETCH_MAX_BYTES = _int("CALENDAR_FETCH_MAX_BYTES", 5 * 1024 * 1024)
    # Only development and tests fetch from loopback (a local server serving feeds).
    CALENDAR_FETCH_ALLOW_LOOPBACK = False
    # Fernet keys for CalDAV passwords at rest, newest first (peepopay/secretbox.py).
    CALENDAR_SECRET_KEYS = _env("CALENDAR_SECRET_KEYS")

    SENTRY_DSN = _env("SENTRY_DSN")
    SENTRY_TRACES_SAMPLE_RATE = float(_env("SENTRY_TRACES_SAMPLE_RATE", "0") or 0)
    RELEASE = _env("RELEASE")  # shown in Sentry; the Dockerfile can pass the git revision
    LOG_LEVEL = _env("LOG_LEVEL", "INFO")
    LOG_FORMAT = _env("LOG_FORMAT", "json")  # or "text"
    METRICS_TOKEN = _env("METRICS_TOKEN")
    # The worker's own /metrics (heartbeat, its counters): a port on its private network.
    WORKER_METRICS_PORT = _int("WORKER_METRICS_PORT", 0)
    # Where the worker reads the certificate Caddy serves for BASE_URL (host:port, e.g.
    # caddy:443); unset: BASE_URL's host on 443.
    TLS_CHECK_ADDRESS = _env("TLS_CHECK_ADDRESS")
    DEV_MAILBOX = False

    # Google sign-in (OpenID Connect): the button shows when both are set. The issuer's
    # metadata URL can point elsewhere (tests run a local provider).
    GOOGLE_CLIENT_ID = _env("GOOGLE_CLIENT_ID")
    GOOGLE_CLIENT_SECRET = _env("GOOGLE_CLIENT_SECRET")
    GOOGLE_METADATA_URL = _env(
        "GOOGLE_METADATA_URL", "https://accounts.google.com/.well-known/openid-configuration"
    )
    # What the two-factor page and authenticator apps call this service.
    TOTP_ISSUER = _env("TOTP_ISSUER", "PeepoPay")

    @classmethod
    def check(cls) -> None:
        """Raise ConfigError naming every missing setting; only production demands them."""


class DevelopmentConfig(Config):
    ENV_NAME = "development"
    SECRET_KEY = _env("SECRET_KEY", "dev-only-not-secret")
    # Plain http to any address (a phone on the local network, a script): no `__Host-` prefix
    # and no Secure flag, which browsers and HTTP clients refuse over http. Production keeps them.
    SESSION_COOKIE_NAME = "peepopay-session"
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_NAME = "peepopay-remember"
    REMEMBER_COOKIE_SECURE = False
    DEVICE_COOKIE_NAME = "peepopay-device"
    DEVICE_COOKIE_SECURE = False
    DEV_MAILBOX = True
    CALENDAR_FETCH_ALLOW_LOOPBACK = True
    # A fixed development key: never for real credentials.
    CALENDAR_SECRET_KEYS = _env(
        "CALENDAR_SECRET_KEYS", "ZGV2LW9ubHktY2FsZW5kYXItc2VjcmV0LWtleS0zMjE="
    )
    STRIPE_SECRET_KEY = _env("STRIPE_SECRET_KEY", "sk_test_peepopay_demo")
    STRIPE_PUBLISHABLE_KEY = _env("STRIPE_PUBLISHABLE_KEY", "pk_test_peepopay_demo")
    STRIPE_WEBHOOK_SECRET = _env("STRIPE_WEBHOOK_SECRET", "whsec_peepopay_demo_platform")
    STRIPE_CONNECT_WEBHOOK_SECRET = _env(
        "STRIPE_CONNECT_WEBHOOK_SECRET", "whsec_peepopay_demo_connect"
    )
    # Demo payments through the local emulator, unless a real Stripe key is configured.
    STRIPE_API_BASE = _env(
        "STRIPE_API_BASE", None if _env("STRIPE_SECRET_KEY") else "http://127.0.0.1:12111"
    )


class TestingConfig(DevelopmentConfig):
    ENV_NAME = "testing"
    TESTING = True
    # The tests hold the app to production's cookies; the development ones are tested apart.
    SESSION_COOKIE_NAME = Config.SESSION_COOKIE_NAME
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_NAME = Config.REMEMBER_COOKIE_NAME
    REMEMBER_COOKIE_SECURE = True
    DEVICE_COOKIE_NAME = Config.DEVICE_COOKIE_NAME
    DEVICE_COOKIE_SECURE = True
    SECRET_KEY = "test-secret"  # noqa: S105
    RATELIMIT_STORAGE_URI = "memory://"
    SQLALCHEMY_DATABASE_URI = "sqlite://"


class ProductionConfig(Config):
    ENV_NAME = "production"

    @classmethod
    def check(cls) -> None:
        required = list(REQUIRED_IN_PRODUCTION)
        if os.environ.get("STRIPE_SECRET_KEY"):
            required += REQUIRED_FOR_STRIPE
        else:
            required.append("STRIPE_SECRET_KEY")
        if os.environ.get("TWILIO_ACCOUNT_SID"):  # SMS on: all of Twilio's settings
            required += REQUIRED_FOR_TWILIO
        missing = [name for name in required if not os.environ.get(name)]
        if missing:
            raise ConfigError(
                "Production configuration is incomplete; set these environment variables: "
                + ", ".join(missing)
            )


CONFIGS: dict[str, type[Config]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def config_from_env() -> type[Config]:
    name = os.environ.get("PEEPOPAY_ENV", "development")
    if name not in CONFIGS:
        raise ConfigError(f"PEEPOPAY_ENV must be one of {', '.join(CONFIGS)}, not {name!r}")
    return CONFIGS[name]
