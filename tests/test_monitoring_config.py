"""Compose's monitoring profile (Prometheus and Alertmanager beside the stack): Docker cannot run
here, so its files are checked with the tools that read them: the compose file parsed,
`promtool check config`, `amtool check-config`, `caddy validate` with the metrics site."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from peepopay.config import ROOT

DEPLOY = ROOT / "deploy"


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return data


def tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: `make system-deps` installs it (Debian's `{package}`)")
    return path


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False, env=env)


def test_the_monitoring_profile_runs_prometheus_and_alertmanager() -> None:
    services = compose()["services"]
    monitoring = {name for name, s in services.items() if "monitoring" in s.get("profiles", [])}
    assert monitoring == {"prometheus", "alertmanager"}
    # The stack itself runs without the profile.
    for name in ("web", "worker", "caddy", "postgres", "redis"):
        assert not services[name].get("profiles"), name
    for name in monitoring:
        # Mounted files exist; ports only on loopback.
        for volume in services[name]["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).is_file(), source
        assert all(port.startswith("127.0.0.1:") for port in services[name]["ports"])
    volumes = compose()["volumes"]
    assert {"prometheus_data", "alertmanager_data"} <= set(volumes)


def test_the_worker_and_caddy_expose_what_prometheus_scrapes() -> None:
    services = compose()["services"]
    worker = services["worker"]
    assert str(worker["environment"]["WORKER_METRICS_PORT"]) == "9100"
    assert "9100" in worker["expose"]
    # The worker keeps the app's settings (the anchor's environment merged in).
    assert worker["environment"]["REDIS_URL"] == "redis://redis:6379/0"
    caddy = services["caddy"]
    assert caddy["environment"]["CADDY_EXTRA"] == "/etc/caddy/metrics.caddy"
    assert any("deploy/caddy/metrics.caddy" in v for v in caddy["volumes"])
    # 2020 is never published to the internet.
    assert not any("2020" in str(port) for port in caddy["ports"])


def scrape_targets() -> dict[str, list[str]]:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets: dict[str, list[str]] = {}
    for job in config["scrape_configs"]:
        found = [t for s in job.get("static_configs", []) for t in s["targets"]]
        found += [f"{n}:{s['port']}" for s in job.get("dns_sd_configs", []) for n in s["names"]]
        targets[job["job_name"]] = found
    return targets


def test_prometheus_scrapes_the_app_the_worker_and_caddy() -> None:
    targets = scrape_targets()
    assert targets["peepopay-web"] == ["web:8000"]
    assert targets["peepopay-worker"] == ["worker:9100"]
    assert targets["caddy"] == ["caddy:2020"]
    services = compose()["services"]
    for target in (t for found in targets.values() for t in found):
        assert target.split(":")[0] in services, target


def test_promtool_accepts_the_prometheus_config(tmp_path: Path) -> None:
    """As compose lays it out: the config beside alerts.yml, the token file written at start."""
    promtool = tool("promtool", "prometheus")
    text = (DEPLOY / "prometheus" / "prometheus.yml").read_text()
    assert "/prometheus/metrics_token" in text
    token = tmp_path / "metrics_token"
    token.write_text("s3cret")
    (tmp_path / "prometheus.yml").write_text(text.replace("/prometheus/metrics_token", str(token)))
    shutil.copy(DEPLOY / "prometheus" / "alerts.yml", tmp_path / "alerts.yml")
    result = run(promtool, "check", "config", str(tmp_path / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout + result.stderr


def test_a_broken_prometheus_config_fails_the_check(tmp_path: Path) -> None:
    promtool = tool("promtool", "prometheus")
    (tmp_path / "prometheus.yml").write_text("scrape_configs:\n  - job_name: x\n    nonsense: 1\n")
    assert run(promtool, "check", "config", str(tmp_path / "prometheus.yml")).returncode != 0


def alertmanager_entrypoint() -> str:
    return " ".join(compose()["services"]["alertmanager"]["entrypoint"])


def render_alertmanager(values: dict[str, str]) -> str:
    """What the container's entrypoint (`sed`) makes of alertmanager.yml with these values."""
    text = (DEPLOY / "alertmanager" / "alertmanager.yml").read_text()
    for name, value in values.items():
        text = text.replace(f"@{name}@", value)
    return text


def test_every_placeholder_of_alertmanager_is_filled_from_the_environment() -> None:
    text = (DEPLOY / "alertmanager" / "alertmanager.yml").read_text()
    words = set(re.findall(r"@([A-Z_]+)@", text))
    assert words == {
        "ALERT_SMTP_SMARTHOST",
        "ALERT_EMAIL_FROM",
        "ALERT_SMTP_USERNAME",
        "ALERT_EMAIL_TO",
    }
    entrypoint = alertmanager_entrypoint()
    environment = compose()["services"]["alertmanager"]["environment"]
    for word in words:
        assert f"s|@{word}@|$${word}|g" in entrypoint, word
        assert word in environment, word
    assert "ALERT_SMTP_PASSWORD" in environment  # into the password file, not the config
    example = (ROOT / ".env.example").read_text()
    for word in words | {"ALERT_SMTP_PASSWORD", "METRICS_TOKEN", "PEEPOPAY_TAG"}:
        assert re.search(rf"^{word}=", example, re.M), f"{word} missing from .env.example"


def test_amtool_accepts_the_alertmanager_config(tmp_path: Path) -> None:
    amtool = tool("amtool", "prometheus-alertmanager")
    config = tmp_path / "alertmanager.yml"
    config.write_text(
        render_alertmanager(
            {
                "ALERT_SMTP_SMARTHOST": "smtp.example.com:587",
                "ALERT_EMAIL_FROM": "alerts@example.com",
                "ALERT_SMTP_USERNAME": "alerts",
                "ALERT_EMAIL_TO": "ops@example.com",
            }
        )
    )
    result = run(amtool, "check-config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    receivers = yaml.safe_load(config.read_text())["receivers"]
    assert receivers[0]["email_configs"][0]["to"] == "ops@example.com"
    # Unfilled, it is refused: Alertmanager would not start on it.
    raw = tmp_path / "raw.yml"
    raw.write_text((DEPLOY / "alertmanager" / "alertmanager.yml").read_text())
    assert run(amtool, "check-config", str(raw)).returncode != 0


def test_alertmanager_routes_every_alert_to_email() -> None:
    config = yaml.safe_load(render_alertmanager({}))
    receivers = {r["name"]: r for r in config["receivers"]}
    assert config["route"]["receiver"] == "email"
    assert all(route["receiver"] == "email" for route in config["route"].get("routes", []))
    assert receivers["email"]["email_configs"][0]["send_resolved"] is True


def test_caddy_serves_its_metrics_with_the_extra_site(tmp_path: Path) -> None:
    """The Caddyfile takes deploy/caddy/metrics.caddy through CADDY_EXTRA, and nothing without."""
    caddy = str(ROOT / ".venv" / "bin" / "caddy")
    if not Path(caddy).exists():
        caddy = tool("caddy", "caddy")
    env = {**os.environ, "SITE_ADDRESS": ":8080", "CADDY_ADMIN": "off"}
    env.pop("CADDY_EXTRA", None)
    args = [caddy, "adapt", "--config", str(ROOT / "Caddyfile"), "--adapter", "caddyfile"]
    plain = run(*args, env=env)
    assert plain.returncode == 0, plain.stderr
    assert '"metrics"' not in plain.stdout and ":2020" not in plain.stdout
    assert "warn" not in plain.stderr  # no empty import warning on every start
    extra = run(*args, env={**env, "CADDY_EXTRA": str(DEPLOY / "caddy" / "metrics.caddy")})
    assert extra.returncode == 0, extra.stderr
    assert '":2020"' in extra.stdout and '"handler":"metrics"' in extra.stdout
