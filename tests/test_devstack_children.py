"""`make run` killed hard (SIGKILL, a closed terminal) takes every process it started with it:
Redis, the Stripe emulator, gunicorn and its workers, the RQ worker, Caddy and the demo host
site; and the next `make run` starts on the same ports."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from peepopay.config import ROOT
from tests.servers import free_port

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform != "linux", reason="/proc")]


def _ppid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for a parent (an init that never reaps) to collect it."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    state = next(line for line in status.splitlines() if line.startswith("State:"))
    return "Z" not in state.split()[1]


def _all_pids() -> Iterator[int]:
    return (int(name) for name in os.listdir("/proc") if name.isdigit())


def descendants(root: int) -> set[int]:
    parents = {pid: _ppid(pid) for pid in _all_pids()}
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - found
        found |= frontier
    return {pid for pid in found if _alive(pid)}


def mentioning(needle: str) -> set[int]:
    """Live processes whose command line or environment names `needle` (our instance folder)."""
    hits = set()
    for pid in _all_pids():
        if pid == os.getpid():
            continue
        try:
            text = (
                Path(f"/proc/{pid}/cmdline").read_bytes()
                + Path(f"/proc/{pid}/environ").read_bytes()
            )
        except OSError:
            continue
        if needle.encode() in text and _alive(pid):
            hits.add(pid)
    return hits


def wait_until(check: Callable[[], object], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


class DevStack:
    def __init__(self, instance: Path) -> None:
        self.instance = instance
        names = ("PORT", "APP_PORT", "REDIS_PORT", "STRIPE_EMULATOR_PORT", "WIDGET_DEMO_PORT")
        self.ports = {name: str(free_port()) for name in names}
        self.process: subprocess.Popen[bytes] | None = None
        self.runs = 0

    def start(self) -> subprocess.Popen[bytes]:
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("REDIS_URL", "DATABASE_URL", "STRIPE_SECRET_KEY", "STRIPE_API_BASE")
        }
        env.update(self.ports, PEEPOPAY_INSTANCE=str(self.instance), PYTHONUNBUFFERED="1")
        self.runs += 1
        self.log = self.instance.parent / f"devstack-{self.runs}.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "devstack"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        process = self.process
        up = wait_until(
            lambda: b"PeepoPay is running." in self.log.read_bytes() or process.poll() is not None,
            180,
        )
        assert up and process.poll() is None, self.log.read_text()[-3000:]
        return process

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(60)


@pytest.fixture
def devstack(tmp_path: Path) -> Iterator[DevStack]:
    stack = DevStack(tmp_path / "instance")
    stack.instance.mkdir()
    try:
        yield stack
    finally:
        stack.stop()
        # Whatever is left of ours, so a failing run does not leave servers behind.
        for pid in mentioning(str(stack.instance)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_a_killed_stack_takes_its_children_and_starts_again(devstack: DevStack) -> None:
    first = devstack.start()
    children = descendants(first.pid)
    ours = mentioning(str(devstack.instance)) - {first.pid}
    # Redis, the emulator, the worker, gunicorn and its workers, Caddy, the demo site.
    assert len(children) >= 7, children
    assert ours and ours <= children

    os.kill(first.pid, signal.SIGKILL)
    first.wait(5)
    left = children | ours
    gone = wait_until(lambda: not any(_alive(pid) for pid in left), 10)
    assert gone, f"still running after the stack was killed: {sorted(filter(_alive, left))}"
    assert mentioning(str(devstack.instance)) == set()

    # The ports are free again, so the next `make run` starts.
    second = devstack.start()
    assert second.pid != first.pid and len(descendants(second.pid)) >= 7


def test_the_next_start_stops_what_a_killed_stack_left_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the kernel could not tell a child (not Linux, a child that ignores SIGTERM): the
    pid file lets the next start stop it, and only it (a pid since reused is left alone)."""
    import devstack

    monkeypatch.setattr(devstack, "INSTANCE", tmp_path)
    ignores_term = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(60)"
    )
    left = subprocess.Popen(
        [sys.executable, "-c", ignores_term], start_new_session=True, stdout=subprocess.PIPE
    )
    assert left.stdout is not None and left.stdout.readline() == b"ready\n"
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        listed = [
            {"name": "redis", "pid": left.pid, "started": devstack._started(left.pid)},
            {"name": "caddy", "pid": other.pid, "started": "1"},  # the pid now names another
        ]
        devstack.pid_file().write_text(json.dumps(listed))
        devstack.stop_stale()
        assert left.wait(5) == -signal.SIGKILL  # SIGTERM ignored, so killed after the grace
        assert other.poll() is None
        assert not devstack.pid_file().exists()
    finally:
        for process in (left, other):
            process.kill()
            process.wait()
        left.stdout.close()
