"""What Caddy in front costs: requests per second and latency of the widget page and the
availability endpoint, through Caddy and straight to gunicorn, in one run on one machine.

Budget (DESIGN.md): gunicorn alone may serve at most 1.8 times the requests per second it
serves behind Caddy. The processes are the production ones (gunicorn.conf.py, the Caddyfile);
rate limits are off so the benchmark measures serving, not the limiter's answer.

    python -m bench.caddy [--seconds 3] [--rounds 5] [--concurrency 16] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from bench.loadgen import free_port, get, load
from devstack import caddy_binary, redis_binary
from peepopay.assets import build_public
from peepopay.config import ROOT

BIN = Path(sys.executable).parent
SLUG = "demo-plumbing"
BUDGET = 1.8


def caddy(tmp: Path, port: int, upstream_port: int) -> tuple[list[str], dict[str, str]]:
    """The command and environment of Caddy with the production Caddyfile on `port`, in front
    of gunicorn on `upstream_port`, serving the static files built into `tmp`/public."""
    build_public(tmp / "public")
    command = [caddy_binary(), "run", "--config", str(ROOT / "Caddyfile"), "--adapter", "caddyfile"]
    return command, {
        "SITE_ADDRESS": f":{port}",
        "CADDY_BIND": "127.0.0.1",
        "UPSTREAMS": f"127.0.0.1:{upstream_port}",
        "PUBLIC_ROOT": str(tmp / "public"),
        "CADDY_ADMIN": "off",
        "CADDY_ACCESS_LOG": f"file {tmp / 'access.log'}",
        "CADDY_LOG_LEVEL": "WARN",
        "XDG_DATA_HOME": str(tmp / "caddy"),
        "XDG_CONFIG_HOME": str(tmp / "caddy"),
    }


def wait_ok(port: int, path: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if get(port, path)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"nothing answered 200 at :{port}{path}")


class Stack:
    """Redis, gunicorn (2 workers × 4 threads) and Caddy on loopback, over a seeded SQLite."""

    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="peepopay-bench-"))
        self.redis_port, self.app_port, self.port = free_port(), free_port(), free_port()
        self.processes: list[subprocess.Popen[bytes]] = []
        self.env = {
            **os.environ,
            "PEEPOPAY_ENV": "development",
            "PEEPOPAY_INSTANCE": str(self.tmp),
            "DATABASE_URL": f"sqlite:///{self.tmp / 'bench.db'}",
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "LOG_LEVEL": "WARNING",  # one JSON line per request would measure the terminal
        }

    def spawn(self, args: list[str], extra: dict[str, str] | None = None) -> None:
        log = (self.tmp / f"{Path(args[0]).name}.log").open("ab")
        self.processes.append(
            subprocess.Popen(
                args,
                env={**self.env, **(extra or {})},
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        log.close()

    def up(self) -> None:
        self.spawn(
            [redis_binary(), "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", ""]
        )
        flask = [str(BIN / "flask"), "--app", "peepopay"]
        for command in (["db", "upgrade"], ["seed-demo"]):
            subprocess.run(
                [*flask, *command], env=self.env, cwd=ROOT, check=True, capture_output=True
            )
        self.spawn(
            [
                str(BIN / "gunicorn"),
                "-c",
                str(ROOT / "gunicorn.conf.py"),
                "-b",
                f"127.0.0.1:{self.app_port}",
                "bench.wsgi:app",
            ],
            # No recycling mid-run: a worker restart would be measured, not serving.
            {"PROMETHEUS_MULTIPROC_DIR": str(self.tmp / "metrics"), "GUNICORN_MAX_REQUESTS": "0"},
        )
        wait_ok(self.app_port, "/healthz")
        self.spawn(*caddy(self.tmp, self.port, self.app_port))
        wait_ok(self.port, "/healthz")

    def down(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def availability_path(self) -> str:
        """The availability query of the first day with free slots (the real work)."""
        status, body = get(self.app_port, f"/api/widget/{SLUG}/config")
        assert status == 200, body
        config = json.loads(body)
        service = config["services"][0]["id"]
        today = datetime.now(ZoneInfo(config["timezone"])).date()
        for offset in range(1, 15):
            day = (today + timedelta(days=offset)).isoformat()
            query = urlencode({"date": day, "serviceId": service})
            path = f"/api/widget/{SLUG}/availability?{query}"
            status, body = get(self.app_port, path)
            if status == 200 and any(slot["available"] for slot in json.loads(body)["slots"]):
                return path
        raise SystemExit("the demo tradie has no free slot in the next two weeks")


@dataclass
class Result:
    target: str
    via: str
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float


def measure(
    target: str,
    via: str,
    port: int,
    path: str,
    seconds: float,
    concurrency: int,
    headers: dict[str, str],
) -> Result:
    load(port, path, 1.0, concurrency, headers)  # warm up: connections, caches, workers
    latencies, errors = load(port, path, seconds, concurrency, headers)
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return Result(
        target=target,
        via=via,
        requests=len(latencies),
        errors=errors,
        rps=round(len(latencies) / seconds, 1),
        p50_ms=round(cuts[49] * 1000, 2),
        p95_ms=round(cuts[94] * 1000, 2),
        p99_ms=round(cuts[98] * 1000, 2),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.caddy", description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--accept-encoding",
        default="gzip",
        help="sent by the clients, as browsers do (Caddy then compresses); '' for none",
    )
    args = parser.parse_args(argv)
    headers = {"Accept-Encoding": args.accept_encoding} if args.accept_encoding else {}

    stack = Stack()
    runs: dict[tuple[str, str], list[Result]] = {}
    try:
        stack.up()
        targets = {"widget page": f"/book/{SLUG}", "availability": stack.availability_path()}
        ports = {"gunicorn": stack.app_port, "caddy": stack.port}
        # Each round measures both ways back to back, so a busy moment on the machine hurts
        # one pair, not one side; the factor is the median of the rounds' factors.
        for _ in range(args.rounds):
            for target, path in targets.items():
                for via, port in ports.items():
                    result = measure(
                        target, via, port, path, args.seconds, args.concurrency, headers
                    )
                    runs.setdefault((target, via), []).append(result)
    finally:
        stack.down()

    print(
        f"\nCaddy in front vs gunicorn alone: {args.concurrency} clients, "
        f"{args.rounds} rounds of {args.seconds:g} s, Accept-Encoding: {args.accept_encoding!r}"
    )
    print(f"{'target':<14}{'via':<10}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'err':>6}")
    best = {key: max(results, key=lambda r: r.rps) for key, results in runs.items()}
    for result in best.values():
        print(
            f"{result.target:<14}{result.via:<10}{result.rps:>9.1f}{result.p50_ms:>9.2f}"
            f"{result.p95_ms:>9.2f}{result.p99_ms:>9.2f}{result.errors:>6}"
        )
    print("(the best round of each; factors below are the median over rounds)")
    ok = True
    summary = []
    for target in targets:
        pairs = zip(runs[(target, "gunicorn")], runs[(target, "caddy")], strict=True)
        factors = [d.rps / c.rps if c.rps else float("inf") for d, c in pairs]
        factor = statistics.median(factors)
        errors = sum(r.errors for via in ports for r in runs[(target, via)])
        passed = factor <= BUDGET and not errors
        ok &= passed
        summary.append(
            {
                "target": target,
                "factor": round(factor, 2),
                "factors": [round(f, 2) for f in factors],
                "budget": BUDGET,
            }
        )
        verdict = "within" if passed else "OVER"
        rounds = ", ".join(f"{f:.2f}" for f in factors)
        print(f"{target}: gunicorn/caddy = {factor:.2f} ({verdict} the {BUDGET} budget; {rounds})")
    if args.json:
        results = [asdict(r) for results in runs.values() for r in results]
        args.json.write_text(json.dumps({"results": results, "summary": summary}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
