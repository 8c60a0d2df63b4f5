"""scripts/audit_deps.py: OSV ranges evaluated right, and the vendored snapshot usable."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("audit_deps", ROOT / "scripts" / "audit_deps.py")
assert _spec is not None
assert _spec.loader is not None
audit_deps = importlib.util.module_from_spec(_spec)
sys.modules["audit_deps"] = audit_deps
_spec.loader.exec_module(audit_deps)


def advisory(name: str, events: list[dict], **extra: object) -> dict:
    return {
        "id": f"TEST-{name}",
        "aliases": ["CVE-2099-0001"],
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": name},
                "ranges": [{"type": "ECOSYSTEM", "events": events}],
                **extra.pop("entry", {}),  # type: ignore[dict-item]
            }
        ],
        **extra,
    }


@pytest.mark.parametrize(
    ("version", "expected"),
    [("0.9", False), ("1.0", True), ("1.4.2", True), ("1.5", False), ("2.0", False)],
)
def test_introduced_up_to_fixed(version: str, expected: bool) -> None:
    adv = advisory("Some_Pkg", [{"introduced": "1.0"}, {"fixed": "1.5"}])
    assert (audit_deps.affects(adv, "some-pkg", version) is not None) is expected
    if expected:
        assert audit_deps.affects(adv, "some-pkg", version) == ("1.5",)


def test_introduced_zero_last_affected_and_a_second_range() -> None:
    adv = advisory(
        "pkg",
        [{"introduced": "0"}, {"last_affected": "1.2"}, {"introduced": "2.0"}, {"fixed": "2.1"}],
    )
    assert audit_deps.affects(adv, "pkg", "0.1") is not None
    assert audit_deps.affects(adv, "pkg", "1.2") is not None  # last_affected is included
    assert audit_deps.affects(adv, "pkg", "1.3") is None
    assert audit_deps.affects(adv, "pkg", "2.0.5") is not None
    assert audit_deps.affects(adv, "pkg", "2.1") is None


def test_explicit_versions_other_packages_and_withdrawn_advisories() -> None:
    listed = advisory("pkg", [], entry={"versions": ["3.3.3"]})
    assert audit_deps.affects(listed, "pkg", "3.3.3") is not None
    assert audit_deps.affects(listed, "pkg", "3.3.4") is None
    ranged = advisory("pkg", [{"introduced": "0"}, {"fixed": "9"}])
    assert audit_deps.affects(ranged, "other", "1.0") is None
    withdrawn = advisory("pkg", [{"introduced": "0"}], withdrawn="2024-01-01T00:00:00Z")
    assert audit_deps.affects(withdrawn, "pkg", "1.0") is None


def test_the_command_reports_and_fails_on_a_vulnerable_installed_package(tmp_path: Path) -> None:
    import django

    snapshot = tmp_path / "advisories.json"
    records = [
        advisory("Django", [{"introduced": "0"}, {"fixed": "999"}]),  # every release
        advisory("django", [{"introduced": "0"}, {"fixed": "1.0"}]),  # long fixed
    ]
    snapshot.write_text(json.dumps({"commit": "abc", "date": "today", "advisories": records}))
    script = ROOT / "scripts" / "audit_deps.py"
    run = subprocess.run(
        [sys.executable, script, "--snapshot", snapshot], capture_output=True, text=True
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert f"VULNERABLE django {django.get_version()}: TEST-Django (CVE-2099-0001)" in run.stdout
    assert "fixed in 999" in run.stdout

    snapshot.write_text(json.dumps({"commit": "abc", "date": "today", "advisories": records[1:]}))
    clean = subprocess.run(
        [sys.executable, script, "--snapshot", snapshot], capture_output=True, text=True
    )
    assert clean.returncode == 0, clean.stdout
    assert "no known vulnerability" in clean.stdout

    snapshot.write_text("{not json")
    broken = subprocess.run(
        [sys.executable, script, "--snapshot", snapshot], capture_output=True, text=True
    )
    assert broken.returncode == 2
    assert "cannot read the advisory snapshot" in broken.stderr


def _advisory_db(root: Path) -> Path:
    """A tiny pypa/advisory-database layout: vulns/<package>/<id>.yaml, as a git repository."""
    for folder, name, ident in (("django", "Django", "PYSEC-1"), ("not-installed", "nope", "X-1")):
        (root / "vulns" / folder).mkdir(parents=True)
        (root / "vulns" / folder / f"{ident}.yaml").write_text(
            f"id: {ident}\naliases: [CVE-2099-1]\naffected:\n"
            f"- package: {{ecosystem: PyPI, name: {name}}}\n"
            "  ranges:\n  - type: ECOSYSTEM\n    events: [{introduced: '0'}, {fixed: '999'}]\n"
        )
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "advisories"], check=True)
    return root


@pytest.mark.parametrize("layout", ["checkout", "git-dir"])
def test_refresh_keeps_the_installed_packages_advisories_and_records_the_commit(
    tmp_path: Path, layout: str
) -> None:
    db = _advisory_db(tmp_path / "advisory-database")
    if layout == "git-dir":
        shutil.rmtree(db / "vulns")  # only the history is left: read with git show
        db = db / ".git"
    snapshot = tmp_path / "var" / "advisories.json"
    script = ROOT / "scripts" / "audit_deps.py"
    made = subprocess.run(
        [sys.executable, script, "--snapshot", snapshot, "--refresh", db],
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    data = json.loads(snapshot.read_text())
    assert [a["id"] for a in data["advisories"]] == ["PYSEC-1"]  # "nope" is not installed
    assert re.fullmatch(r"[0-9a-f]{40}", data["commit"])
    audit = subprocess.run(
        [sys.executable, script, "--snapshot", snapshot], capture_output=True, text=True
    )
    assert audit.returncode == 1
    assert "VULNERABLE django" in audit.stdout
    assert data["commit"][:12] in audit.stdout


def test_no_snapshot_is_a_usage_error_that_says_how_to_make_one(tmp_path: Path) -> None:
    missing = subprocess.run(
        [sys.executable, ROOT / "scripts" / "audit_deps.py", "--snapshot", tmp_path / "none"],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2
    assert "--refresh PATH" in missing.stderr
