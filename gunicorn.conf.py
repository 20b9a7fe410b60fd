"""gunicorn settings; every number can come from the environment.

Thread workers (gthread): requests spend their time waiting on PostgreSQL, Redis and Stripe, so a
few processes with several threads each use little memory for a lot of concurrency. Caddy sits
in front, buffers slow clients and writes the access log.

Graceful restarts: SIGHUP reloads the code with new workers, SIGTERM lets running requests
finish (up to GUNICORN_GRACEFUL_TIMEOUT), and each worker is replaced after GUNICORN_MAX_REQUESTS
requests (with jitter) so a slow leak never builds up.
"""

import json
import logging
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))  # longer than Caddy's reuse gap
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "10000"))
max_requests_jitter = max_requests // 10
preload_app = False  # so SIGHUP loads new code
# Heartbeat files in memory, not on a container's overlay disk.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108
# Several gunicorns share a machine (tests, `make run`, bench): no shared control socket.
control_socket_disable = True

accesslog = None  # the app logs one JSON line per request, Caddy writes the access log
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# The proxy in front (Caddy): only from these peers does gunicorn believe X-Forwarded-Proto, and
# the app's ProxyFix (TRUSTED_PROXIES=1, same variable) X-Forwarded-For. In compose Caddy is
# another container with a fixed address; "*" is refused by the app.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")


class JsonFormatter(logging.Formatter):
    """gunicorn's own lines in the same shape as the app's (peepopay.ops.logs)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry)


if os.environ.get("LOG_FORMAT", "json") == "json":
    # Replaces gunicorn's defaults: its own lines as JSON on stderr, no access lines (the app
    # writes those), and the root logger left to the app (peepopay.ops.logs), so nothing twice.
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": loglevel.upper(), "handlers": []},
        "loggers": {
            "gunicorn.error": {
                "level": loglevel.upper(),
                "handlers": ["error_console"],
                "propagate": False,
                "qualname": "gunicorn.error",
            },
            "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
        },
        "handlers": {
            "error_console": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            },
        },
        "formatters": {"json": {"()": JsonFormatter}},
    }

# Prometheus multiprocess mode: every worker writes its metrics to files in this directory and
# /metrics sums them. It must be set before any worker imports prometheus_client.
_created_metrics_dir = None
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _created_metrics_dir = tempfile.mkdtemp(prefix="peepopay-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _created_metrics_dir


def on_starting(server):  # type: ignore[no-untyped-def]
    """Start from zero: files left by an earlier run would be summed in."""
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):  # type: ignore[no-untyped-def]
    if _created_metrics_dir:
        shutil.rmtree(_created_metrics_dir, ignore_errors=True)
