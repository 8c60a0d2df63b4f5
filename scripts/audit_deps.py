"""Offline dependency audit: the installed Python packages against the PyPA advisory database
(OSV records), for machines where pip-audit cannot reach vulnerability data.

    .venv/bin/python scripts/audit_deps.py --refresh PATH  # snapshot from a clone (or bare git
                                                           # dir) of pypa/advisory-database
    .venv/bin/python scripts/audit_deps.py                 # exit 1 on a known vulnerability

The snapshot (var/advisories.json, not committed: the database is not ours to redistribute in
this repository) keeps only the advisories of packages installed in the environment that made
it, and records the upstream commit and date: a check is only as fresh as the database it came
from. Exit status: 0 nothing known, 1 vulnerable packages found, 2 bad usage or no snapshot.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT = ROOT / "var" / "advisories.json"


def canonical(name: str) -> str:
    return canonicalize_name(name)


@dataclass(frozen=True)
class Finding:
    package: str
    version: str
    advisory: str
    aliases: tuple[str, ...]
    fixed: tuple[str, ...]
    summary: str


def _parse(version: str) -> Version | None:
    try:
        return Version(version)
    except InvalidVersion:
        return None


def _in_range(version: Version, events: list[Mapping[str, str]]) -> bool:
    """OSV ECOSYSTEM range: sorted events; affected from each `introduced` up to the next
    `fixed` (excluded) or `last_affected` (included), or without end."""
    points: list[tuple[Version, int, str]] = []
    for event in events:
        for kind, raw in event.items():
            at = Version("0") if raw == "0" else _parse(raw)
            if at is None or kind not in ("introduced", "fixed", "last_affected"):
                continue
            points.append((at, {"fixed": 0, "introduced": 1, "last_affected": 2}[kind], kind))
    affected = False
    for at, _, kind in sorted(points):
        if kind == "introduced":
            if version < at:
                return affected
            affected = True
        elif kind == "fixed":
            if version < at:
                return affected
            affected = False
        elif kind == "last_affected":
            if version <= at:
                return affected
            affected = False
    return affected


def affects(advisory: Mapping[str, Any], package: str, version: str) -> tuple[str, ...] | None:
    """The fixed versions named, when `advisory` covers `package` at `version`; else None."""
    if advisory.get("withdrawn"):
        return None
    parsed = _parse(version)
    for entry in advisory.get("affected", []):
        pkg = entry.get("package", {})
        if pkg.get("ecosystem") != "PyPI" or canonical(pkg.get("name", "")) != package:
            continue
        ranges = [r for r in entry.get("ranges", []) if r.get("type") == "ECOSYSTEM"]
        fixed = tuple(str(e["fixed"]) for r in ranges for e in r.get("events", []) if "fixed" in e)
        if version in {str(v) for v in entry.get("versions", [])}:
            return fixed
        if parsed is not None and any(_in_range(parsed, r.get("events", [])) for r in ranges):
            return fixed
    return None


def installed() -> dict[str, str]:
    return {
        canonical(d.metadata["Name"]): d.version
        for d in metadata.distributions()
        if d.metadata["Name"]
    }


def audit(advisories: Iterable[Mapping[str, Any]], packages: Mapping[str, str]) -> list[Finding]:
    findings = []
    for advisory in advisories:
        for entry in advisory.get("affected", []):
            name = canonical(entry.get("package", {}).get("name", ""))
            if name not in packages:
                continue
            fixed = affects(advisory, name, packages[name])
            if fixed is not None:
                findings.append(
                    Finding(
                        package=name,
                        version=packages[name],
                        advisory=str(advisory.get("id")),
                        aliases=tuple(advisory.get("aliases", [])),
                        fixed=fixed,
                        summary=str(advisory.get("summary") or advisory.get("details", ""))[:100],
                    )
                )
                break
    return sorted(set(findings), key=lambda f: (f.package, f.advisory))


def _git(git_dir: Path, *args: str) -> str:
    return subprocess.run(
        ["git", f"--git-dir={git_dir}", *args], check=True, capture_output=True, text=True
    ).stdout


def _advisory_files(source: Path) -> Iterator[tuple[str, str]]:
    """(package folder, YAML text) of every advisory in a clone or a bare git dir."""
    if (source / "vulns").is_dir():
        for path in sorted((source / "vulns").glob("*/*.yaml")):
            yield path.parent.name, path.read_text(encoding="utf-8")
        return
    git_dir = source / ".git" if (source / ".git").exists() else source
    for line in _git(git_dir, "ls-tree", "-r", "--name-only", "HEAD", "vulns/").splitlines():
        if line.endswith(".yaml"):
            yield line.split("/")[1], _git(git_dir, "show", f"HEAD:{line}")


def refresh(source: Path, packages: Iterable[str], target: Path = SNAPSHOT) -> int:
    import yaml  # PyYAML: installed with drf-spectacular; only the refresh needs it

    wanted = set(packages)
    kept = [
        yaml.safe_load(text)
        for folder, text in _advisory_files(source)
        if canonical(folder) in wanted
    ]
    kept.sort(key=lambda a: str(a.get("id")))
    git_dir = source / ".git" if (source / ".git").exists() else source
    try:
        commit, date = _git(git_dir, "log", "-1", "--format=%H %cI").split()
    except (subprocess.CalledProcessError, ValueError, FileNotFoundError):
        commit, date = "unknown", "unknown"
    target.parent.mkdir(parents=True, exist_ok=True)
    body = {"source": "github.com/pypa/advisory-database", "commit": commit, "date": date}
    target.write_text(json.dumps({**body, "advisories": kept}, indent=1, default=str) + "\n")
    print(f"{len(kept)} advisories of {len(wanted)} packages from {commit[:12]} ({date})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snapshot", type=Path, default=SNAPSHOT)
    parser.add_argument("--refresh", type=Path, metavar="ADVISORY_DB")
    args = parser.parse_args(argv)
    packages = installed()
    if args.refresh is not None:
        if not args.refresh.exists():
            print(f"no advisory database at {args.refresh}", file=sys.stderr)
            return 2
        return refresh(args.refresh, packages, args.snapshot)
    try:
        snapshot = json.loads(args.snapshot.read_text(encoding="utf-8"))
        advisories = snapshot["advisories"]
    except (OSError, ValueError, KeyError) as exc:
        print(
            f"cannot read the advisory snapshot {args.snapshot}: {exc}\n"
            "make one with --refresh PATH, PATH a clone of github.com/pypa/advisory-database",
            file=sys.stderr,
        )
        return 2
    findings = audit(advisories, packages)
    print(
        f"{len(packages)} installed packages against {len(advisories)} advisories "
        f"(pypa/advisory-database {str(snapshot.get('commit'))[:12]}, {snapshot.get('date')})"
    )
    for f in findings:
        aliases = ", ".join(f.aliases) or "-"
        fixed = ", ".join(f.fixed) or "no fix"
        print(f"VULNERABLE {f.package} {f.version}: {f.advisory} ({aliases}); fixed in {fixed}")
    if not findings:
        print("no known vulnerability")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
