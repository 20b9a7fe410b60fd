"""The emulator's memory on disk: objects, events, idempotency keys and the clock offset in one
JSON file, so `make run` keeps connected accounts (and what they took) across restarts.

Webhook endpoints given at start-up are not kept: the command line names them each time."""

from __future__ import annotations

import base64
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from .store import API_VERSION, IdempotentResult, Record

FORMAT = 1


def save(emu: Any, path: str) -> None:
    """Replace the file atomically, so a crash mid-write leaves the previous state."""

    records = [
        {"id": r.id, "obj": r.obj, "account": r.account, "extra": r.extra}
        for r in emu.store.all_records()
        if not r.extra.get("configured")
    ]
    idempotency = [
        {
            "scope": list(scope),
            "fingerprint": result.fingerprint,
            "status": result.status,
            "body": base64.b64encode(result.body).decode(),
            "request_id": result.request_id,
            "created": result.created,
        }
        for scope, result in emu.idempotency.items()
    ]
    state = {
        "format": FORMAT,
        "api_version": API_VERSION,
        "clock_offset": emu.store.clock_offset,
        "records": records,
        "idempotency": idempotency,
    }
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(handle, "w") as out:
            json.dump(state, out)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load(emu: Any, path: str) -> None:
    """Read the file if it exists; a missing file is a first start."""

    source = Path(path)
    if not source.exists():
        return
    state: dict[str, Any] = json.loads(source.read_text())
    if state.get("format") != FORMAT:
        raise SystemExit(f"{path}: not a Stripe emulator state file of format {FORMAT}")
    emu.store.clock_offset = int(state.get("clock_offset", 0))
    for item in state["records"]:
        emu.store.restore(Record(item["id"], item["obj"], item["account"], item["extra"]))
    for item in state["idempotency"]:
        api_key, account, key = item["scope"]
        emu.idempotency[(api_key, account, key)] = IdempotentResult(
            item["fingerprint"],
            int(item["status"]),
            base64.b64decode(item["body"]),
            item["request_id"],
            int(item["created"]),
        )
