"""Accessibility and small-screen checks every page of the browser journeys goes through.

axe-core comes from npm (`package.json`, installed by `make test-deps`); it is injected into the page by
Playwright and run there. A missing axe-core is an error, never a silent skip: `.ci/run` installs it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

AXE_JS = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
AXE_PATH = "/static/__tests__/axe.min.js"
BLOCKING_IMPACTS = ("serious", "critical")
PHONE_WIDTH = 390


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """The serious and critical axe-core violations of the page as it is now."""
    if not AXE_JS.exists():
        raise RuntimeError(f"axe-core absent ({AXE_JS}) : lancez `npm ci` (fait par make test-deps)")
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # served from the page's own origin (intercepted, never reaching the app): the pages' CSP
        # (script-src 'self', no inline script) stays enforced while axe runs
        url = page.evaluate("() => location.origin") + AXE_PATH
        page.route(url, lambda route: route.fulfill(body=AXE_JS.read_text(encoding="utf-8"),
                                                    content_type="application/javascript"))
        try:
            page.add_script_tag(url=url)
        finally:
            page.unroute(url)
    result = page.evaluate("async () => await window.axe.run(document, {resultTypes: ['violations']})")
    return [v for v in result["violations"] if v.get("impact") in BLOCKING_IMPACTS]


def horizontal_overflow(page: Any) -> int:
    """How many CSS pixels the page scrolls sideways (0 when it fits its viewport)."""
    return int(page.evaluate(
        "() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
        " - document.documentElement.clientWidth"))


def assert_accessible(page: Any, *, label: str = "") -> None:
    """The page has no serious/critical axe violation, and fits 390 px without horizontal scroll.

    The viewport is switched to 390 px for the width check, then restored."""
    where = label or page.url
    violations = axe_violations(page)
    assert not violations, f"axe-core ({where}) : " + json.dumps(
        [{"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"][:3]]}
         for v in violations], ensure_ascii=False)
    size = page.viewport_size
    page.set_viewport_size({"width": PHONE_WIDTH, "height": 844})
    try:
        overflow = horizontal_overflow(page)
        assert overflow <= 0, f"{where} : la page défile horizontalement de {overflow} px à {PHONE_WIDTH} px"
    finally:
        if size:
            page.set_viewport_size(size)
