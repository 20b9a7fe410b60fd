"""Container health checks (exit 0 when healthy):

    python -m peepopay.ops.healthcheck web      # this container's gunicorn answers /healthz
    python -m peepopay.ops.healthcheck worker   # an RQ worker of this host is registered in Redis

Neither builds the Flask app: a check must be cheap and must not need the production secrets.
"""

from __future__ import annotations

import os
import socket
import sys
from urllib.request import urlopen


def web() -> bool:
    bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
    port = bind.rsplit(":", 1)[-1]
    with urlopen(f"http://127.0.0.1:{port}/healthz", timeout=3) as response:
        return bool(response.status == 200)


def worker() -> bool:
    """RQ keeps a key per live worker (refreshed by its heartbeat); ours carries our hostname."""
    from redis import Redis
    from rq import Queue, Worker

    conn = Redis.from_url(os.environ["REDIS_URL"], socket_connect_timeout=2, socket_timeout=2)
    try:
        queue = Queue(os.environ.get("RQ_QUEUE", "peepopay"), connection=conn)
        host = socket.gethostname()
        return any(w.hostname == host for w in Worker.all(queue=queue))
    finally:
        conn.close()


def main(argv: list[str]) -> int:
    checks = {"web": web, "worker": worker}
    if len(argv) != 1 or argv[0] not in checks:
        print("usage: python -m peepopay.ops.healthcheck web|worker", file=sys.stderr)
        return 2
    try:
        healthy = checks[argv[0]]()
    except Exception as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
