"""Stripe's form encoding: nested `a[b][0][c]=v` keys into dicts and lists, and typed readers."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import invalid_request, missing_param
from .money import CURRENCIES

_BRACKETS = re.compile(r"\[([^\[\]]*)\]")
# Metadata keys are free text: a key "0" must stay a dict key, never become a list index.
_FREE_KEYS = {"metadata"}
# Stripe's metadata limits: 50 keys, keys up to 40 characters, values up to 500.
METADATA_KEYS, METADATA_KEY_LENGTH, METADATA_VALUE_LENGTH = 50, 40, 500
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")


def parse_form(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Turn `("a[b][0]", "x")` pairs into `{"a": {"b": ["x"]}}`; `a[]` appends."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        _assign(root, _split_key(key), value, key)
    return _listify(root)


def _split_key(key: str) -> list[str]:
    head, bracket, rest = key.partition("[")
    if not bracket:
        return [key]
    return [head, *_BRACKETS.findall("[" + rest)]


def _assign(node: dict[str, Any], path: list[str], value: str, full_key: str) -> None:
    *parents, last = path
    for part in parents:
        part = part if part != "" else str(len(node))
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise invalid_request(f"Invalid hash: {full_key}", param=full_key)
        node = child
    last = last if last != "" else str(len(node))
    if isinstance(node.get(last), dict):
        raise invalid_request(f"Invalid hash: {full_key}", param=full_key)
    node[last] = value


def _listify(node: dict[str, Any], free: bool = False) -> Any:
    converted = {
        key: _listify(value, key in _FREE_KEYS) if isinstance(value, dict) else value
        for key, value in node.items()
    }
    indexes = [str(i) for i in range(len(converted))]
    if not free and converted and sorted(converted, key=_as_index) == indexes:
        return [converted[i] for i in indexes]
    return converted


def _as_index(key: str) -> int:
    return int(key) if key.isdigit() else -1


def get_str(
    params: Mapping[str, Any],
    name: str,
    *,
    required: bool = False,
    choices: Iterable[str] | None = None,
    label: str | None = None,
) -> str | None:
    """A string parameter; `label` names it in errors when it is nested (`card[number]`)."""
    label = label or name
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise missing_param(label)
        return None
    if not isinstance(value, str):
        raise invalid_request(f"Invalid string: {label}", param=label)
    if choices is not None and value not in (options := list(choices)):
        raise invalid_request(f"Invalid {label}: must be one of {', '.join(options)}", param=label)
    return value


def get_int(
    params: Mapping[str, Any],
    name: str,
    *,
    required: bool = False,
    minimum: int | None = None,
    maximum: int | None = None,
    label: str | None = None,
) -> int | None:
    label = label or name
    raw = get_str(params, name, required=required, label=label)
    if raw is None:
        return None
    if not re.fullmatch(r"-?\d+", raw):
        raise invalid_request(
            f"Invalid integer: {raw}", param=label, code="parameter_invalid_integer"
        )
    value = int(raw)
    if minimum is not None and value < minimum:
        raise invalid_request(
            f"This value must be greater than or equal to {minimum}.",
            param=label,
            code="parameter_invalid_integer",
        )
    if maximum is not None and value > maximum:
        raise invalid_request(
            f"This value must be less than or equal to {maximum}.",
            param=label,
            code="parameter_invalid_integer",
        )
    return value


def get_bool(params: Mapping[str, Any], name: str, *, label: str | None = None) -> bool | None:
    label = label or name
    raw = get_str(params, name, label=label)
    if raw is None:
        return None
    if raw not in ("true", "false"):
        raise invalid_request(f"Invalid boolean: {raw}", param=label)
    return raw == "true"


def get_dict(params: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = params.get(name)
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise invalid_request(f"Invalid object: {name}", param=name)
    return value


def get_list(params: Mapping[str, Any], name: str) -> list[Any] | None:
    value = params.get(name)
    if value is None:
        return None
    if value == "":
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        raise invalid_request(f"Invalid array: {name}", param=name)
    return value


def apply_metadata(current: dict[str, str], params: Mapping[str, Any]) -> dict[str, str]:
    """Stripe's metadata rules: keys merge, an empty value removes a key, `metadata=` clears."""
    if "metadata" not in params:
        return current
    raw = params["metadata"]
    if raw == "":
        return {}
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise invalid_request("Invalid metadata: must be a hash of strings", param="metadata")
    for key, value in raw.items():
        if len(key) > METADATA_KEY_LENGTH:
            raise invalid_request(
                f"Metadata keys can have up to {METADATA_KEY_LENGTH} characters, but you passed "
                f"in a key that is {len(key)} characters. Invalid key: '{key}'",
                param=f"metadata[{key}]",
            )
        if len(value) > METADATA_VALUE_LENGTH:
            raise invalid_request(
                f"Metadata values can have up to {METADATA_VALUE_LENGTH} characters, but you "
                f"passed in a value that is {len(value)} characters.",
                param=f"metadata[{key}]",
            )
    merged = {**current, **raw}
    merged = {key: value for key, value in merged.items() if value != ""}
    if len(merged) > METADATA_KEYS:
        raise invalid_request(
            f"You can have up to {METADATA_KEYS} metadata keys, but you passed in {len(merged)}.",
            param="metadata",
        )
    return merged


def get_currency(
    params: Mapping[str, Any], name: str, *, required: bool = False, label: str | None = None
) -> str | None:
    """A currency parameter, lower-cased, refused as Stripe does when Stripe has no such one."""
    label = label or name
    value = get_str(params, name, required=required, label=label)
    if value is None:
        return None
    if value.lower() not in CURRENCIES:
        raise invalid_request(
            f"Invalid currency: {value.lower()}. Stripe currently supports these currencies: "
            + ", ".join(sorted(CURRENCIES)),
            param=label,
        )
    return value.lower()


def get_email(params: Mapping[str, Any], name: str, *, label: str | None = None) -> str | None:
    """An email address parameter, refused as Stripe does when it is not one."""
    label = label or name
    value = get_str(params, name, label=label)
    if value is not None and not _EMAIL.fullmatch(value):
        raise invalid_request(f"Invalid email address: {value}", param=label, code="email_invalid")
    return value


__all__ = [
    "apply_metadata",
    "get_bool",
    "get_currency",
    "get_dict",
    "get_email",
    "get_int",
    "get_list",
    "get_str",
    "parse_form",
]
