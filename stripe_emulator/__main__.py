"""`python -m stripe_emulator`: serve the Stripe emulator until interrupted."""

from __future__ import annotations

import argparse
import os
import secrets

from werkzeug.serving import make_server

from .app import create_emulator_app
from .state import EmulatorConfig
from .webhooks import DeliverySettings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(
        prog="python -m stripe_emulator",
        description="PeepoPay Stripe emulator: a local, test-mode-only Stripe API.",
    )
    parser.add_argument("--host", default=env("STRIPE_EMULATOR_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(env("STRIPE_EMULATOR_PORT", "12111")))
    parser.add_argument(
        "--public-url",
        default=env("STRIPE_EMULATOR_PUBLIC_URL"),
        help="base URL browsers use for hosted pages (default http://127.0.0.1:<port>)",
    )
    parser.add_argument("--webhook-url", default=env("STRIPE_EMULATOR_WEBHOOK_URL"))
    parser.add_argument("--webhook-secret", default=env("STRIPE_WEBHOOK_SECRET"))
    parser.add_argument("--connect-webhook-url", default=env("STRIPE_EMULATOR_CONNECT_WEBHOOK_URL"))
    parser.add_argument("--connect-webhook-secret", default=env("STRIPE_CONNECT_WEBHOOK_SECRET"))
    parser.add_argument(
        "--retry-base-seconds",
        type=float,
        default=float(env("STRIPE_EMULATOR_RETRY_BASE_SECONDS", "1.0")),
        help="first webhook retry delay; doubles on each retry",
    )
    parser.add_argument(
        "--state-file",
        default=env("STRIPE_EMULATOR_STATE_FILE"),
        help="keep objects and events in this JSON file across restarts (default: memory only)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    host_for_urls = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    secrets_made = []
    for url_name, secret_name in (
        ("webhook_url", "webhook_secret"),
        ("connect_webhook_url", "connect_webhook_secret"),
    ):
        if getattr(args, url_name) and not getattr(args, secret_name):
            setattr(args, secret_name, f"whsec_{secrets.token_hex(16)}")
            secrets_made.append(secret_name)
    config = EmulatorConfig(
        public_url=args.public_url,
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
        connect_webhook_url=args.connect_webhook_url,
        connect_webhook_secret=args.connect_webhook_secret,
        delivery=DeliverySettings(retry_base_seconds=args.retry_base_seconds),
        state_file=args.state_file,
    )
    app = create_emulator_app(config)
    server = make_server(args.host, args.port, app, threaded=True)
    # Known only now when --port 0 asked for any free port.
    config.public_url = config.public_url or f"http://{host_for_urls}:{server.port}"
    print(f"PeepoPay Stripe emulator (demo payments only) on http://{host_for_urls}:{server.port}")
    print(f"  hosted pages at {config.public_url}")
    if config.state_file:
        print(f"  state kept in {config.state_file}")
    for name in secrets_made:
        print(f"  generated {name}: {getattr(args, name)}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        app.extensions["stripe_emulator"].close()


if __name__ == "__main__":
    main()
