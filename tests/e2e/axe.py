"""axe-core in the browser tests: the vendored engine, run on the page as a user sees it.

The script goes in through Playwright's evaluate (the DevTools protocol), which the site's
Content-Security-Policy does not govern, so the product's policy stays as strict as it is.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

AXE_JS = Path(__file__).with_name("vendor") / "axe.min.js"  # axe-core 4.14.1, MPL-2.0
BLOCKING = ("serious", "critical")


@cache
def axe_source() -> str:
    return AXE_JS.read_text(encoding="utf-8")


def axe_violations(page, impacts: tuple[str, ...] = BLOCKING) -> list[str]:
    """One line per axe-core violation of the given impacts on the page as it is now."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source())
    results = page.evaluate(
        "() => axe.run(document, {resultTypes: ['violations']})"
        ".then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' ') + ' :: ' + n.failureSummary)})))"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']}; {len(v['nodes'])} nodes, e.g. {v['nodes'][:3]}"
        for v in results
        if v["impact"] in impacts
    ]
