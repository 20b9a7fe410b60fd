"""The alert rules (deploy/prometheus/alerts.yml): promtool accepts them and their unit tests
(alerts_test.yml) pass; every alert fires and stays quiet where it should, names what is wrong,
has a severity, and links to its section of the runbook (docs/operations.md); every metric
they read is one the product exports."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from peepopay.config import ROOT

PROMETHEUS = ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS / "alerts.yml"
RULE_TESTS = PROMETHEUS / "alerts_test.yml"
RUNBOOK = ROOT / "docs" / "operations.md"

# What the plan's "Monitoring & Alerts" asks for: threshold in the expression, `for`, severity.
PLAN = {
    "HighErrorRate": ("> 0.05", "5m", "critical"),
    "SlowResponses": ("> 2", "5m", "warning"),
    "PaymentFailures": ("> 0.10", "10m", "critical"),
    "DatabaseConnectionErrors": ("> 0", "1m", "critical"),
    "MemoryHigh": ("> 0.85", "5m", "warning"),
}
# What this product adds.
PRODUCT = {
    "WebhooksFailing",
    "WebhooksLate",
    "OutboxBacklogOld",
    "WorkerHeartbeatMissing",
    "QueueGrowing",
    "CalendarFeedsFailing",
    "NotReady",
    "CertificateExpiringSoon",
    "LedgerDifference",
    "TargetDown",
}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool is missing: `make system-deps` installs it (Debian's `prometheus` package)"
        )
    return subprocess.run([path, *args], capture_output=True, text=True, timeout=120, check=False)


def rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_promtool_accepts_the_rules() -> None:
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


def test_the_rules_pass_their_unit_tests() -> None:
    result = promtool("test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_a_broken_rule_fails_the_check(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        yaml.safe_dump(
            {
                "groups": [
                    {
                        "name": "broken",
                        "rules": [
                            {
                                "alert": "Broken",
                                "expr": "sum(rate(peepopay_request_seconds_count[5m]) > ",
                                "for": "5m",
                            }
                        ],
                    }
                ]
            }
        )
    )
    result = promtool("check", "rules", str(broken))
    assert result.returncode != 0
    assert "Broken" in result.stdout + result.stderr or "parse error" in (
        result.stdout + result.stderr
    )


def test_the_unit_tests_catch_a_changed_threshold(tmp_path: Path) -> None:
    """The unit tests bite: HighErrorRate at 50 % instead of 5 % fails them."""
    text = RULES.read_text()
    assert text.count("> 0.05") == 1
    (tmp_path / "alerts.yml").write_text(text.replace("> 0.05", "> 0.5"))
    shutil.copy(RULE_TESTS, tmp_path / "alerts_test.yml")
    result = promtool("test", "rules", str(tmp_path / "alerts_test.yml"))
    assert result.returncode != 0
    assert "alertname: HighErrorRate" in result.stdout + result.stderr


def test_every_alert_the_plan_and_the_product_ask_for_is_there() -> None:
    names = [rule["alert"] for rule in rules()]
    assert len(names) == len(set(names)), "an alert name appears twice"
    assert set(names) == set(PLAN) | PRODUCT
    by_name = {rule["alert"]: rule for rule in rules()}
    for name, (threshold, duration, severity) in PLAN.items():
        rule = by_name[name]
        assert threshold in rule["expr"], name
        assert rule["for"] == duration, name
        assert rule["labels"]["severity"] == severity, name


def heading_anchors(markdown: str) -> set[str]:
    """GitHub's anchors for a document's headings: lower case, punctuation dropped, spaces to -."""
    anchors = set()
    for line in markdown.splitlines():
        if match := re.match(r"#{1,6}\s+(.*)", line):
            text = match.group(1).strip().lower()
            anchors.add(re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", text)))
    return anchors


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: rule["alert"])
def test_every_alert_has_a_severity_a_summary_and_a_runbook_section(rule: dict[str, Any]) -> None:
    assert rule["labels"]["severity"] in {"critical", "warning"}
    assert rule["for"], "every alert waits before it fires"
    assert len(rule["annotations"]["summary"]) > 20
    runbook = rule["annotations"]["runbook"]
    page, _, anchor = runbook.partition("#")
    assert page == "docs/operations.md"
    assert anchor == rule["alert"].lower()
    assert anchor in heading_anchors(RUNBOOK.read_text()), f"no heading for #{anchor} in {page}"


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    fires: set[str] = set()
    quiet: set[str] = set()
    for case in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for check in case.get("alert_rule_test", []):
            (fires if check["exp_alerts"] else quiet).add(check["alertname"])
    names = {rule["alert"] for rule in rules()}
    assert names - fires == set(), "alerts never seen firing"
    assert names - quiet == set(), "alerts never seen quiet"


def exported_metrics() -> set[str]:
    """Metric names the product defines: in peepopay/ops/metrics.py, with the suffixes
    prometheus-client adds to counters and histograms."""
    source = (ROOT / "peepopay" / "ops" / "metrics.py").read_text()
    names = set(re.findall(r'"(peepopay_[a-z_]+)"', source))
    suffixes = ("", "_total", "_created", "_count", "_sum", "_bucket")
    return {name + suffix for name in names for suffix in suffixes}


def test_the_rules_read_only_metrics_the_product_exports() -> None:
    exported = exported_metrics()
    used = {name for rule in rules() for name in re.findall(r"peepopay_[a-z_]+", rule["expr"])}
    assert used, "no product metric in the rules"
    assert used - exported == set()
