"""The efficacy pictures drawn in headless Chromium under exactly the application's Content-Security-Policy.

The page is served by a small HTTP server of the test's own (no test-only URL in the application): HTML
written to a temporary folder, the vendored Vega files, ``static/js/charts.js`` and ``app.css`` straight
from the repository's ``static/``, every answer with the ``Content-Security-Policy`` header the
application sends (``django.utils.csp.build_policy(settings.SECURE_CSP)``, as Django's
``ContentSecurityPolicyMiddleware`` builds it). The specs are ``response.charts``' own, embedded with
Django's ``json_script``, as ``templates/response/efficacy.html`` embeds them.

A ``securitypolicyviolation`` listener is installed before any page script runs (Playwright's init
script); the canary test shows that it does report a violation when the page breaks the policy, so the
"no violation" assertions can fail. Waits and checks are written as functions ("() => ..."): Playwright
runs a bare expression through eval while polling, which this very policy forbids.
"""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.conf import settings
from django.utils.csp import build_policy
from django.utils.html import json_script

from response import charts
from tests.browser.conftest import SCREENSHOTS
from tests.response.test_charts import KM, KM_TIMES
from trialsite import vegalite

pytestmark = pytest.mark.browser

STATIC = Path(settings.BASE_DIR) / "static"
VENDOR = ("vendor/vega/vega.min.js", "vendor/vega/vega-lite.min.js", "vendor/vega/vega-embed.min.js",
          "vendor/vega/vega-interpreter.min.js")

WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__violations.push(e.violatedDirective + " " + (e.blockedURI || "") + " " + (e.sample || ""));
});
"""

# Hand-made rows, small enough to count the marks by eye.
WATERFALL = [
    {"subject": "S-01", "best_pct": -45.0, "bor": "PR", "group": "Dose level 2"},
    {"subject": "S-02", "best_pct": 12.5, "bor": "SD", "group": "Dose level 1"},
    {"subject": "S-03", "best_pct": -100.0, "bor": "CR", "group": "Dose level 2"},
    {"subject": "S-04", "best_pct": 31.0, "bor": "PD", "group": "Dose level 1"},
    {"subject": "S-05", "best_pct": -8.0, "bor": "SD", "group": "Dose level 3"},
]
SPIDER = [
    {"subject": "S-01", "week": 0.0, "pct": 0.0, "group": "Dose level 2"},
    {"subject": "S-01", "week": 6.0, "pct": -32.0, "group": "Dose level 2"},
    {"subject": "S-01", "week": 12.1, "pct": -45.0, "group": "Dose level 2"},
    {"subject": "S-02", "week": 0.0, "pct": 0.0, "group": "Dose level 1"},
    {"subject": "S-02", "week": 6.3, "pct": 12.5, "group": "Dose level 1"},
    {"subject": "S-04", "week": 0.0, "pct": 0.0, "group": "Dose level 1"},
    {"subject": "S-04", "week": 5.9, "pct": 31.0, "group": "Dose level 1"},
]
SWIMMER = [
    {"subject": "S-01", "weeks_on_treatment": 30.0, "ongoing": True, "group": "Dose level 2",
     "events": [{"week": 6.0, "kind": "PR"}]},
    {"subject": "S-03", "weeks_on_treatment": 42.0, "ongoing": False, "group": "Dose level 2",
     "events": [{"week": 6.1, "kind": "PR"}, {"week": 18.0, "kind": "CR"}, {"week": 40.0, "kind": "PD"}]},
    {"subject": "S-04", "weeks_on_treatment": 6.0, "ongoing": False, "group": "Dose level 1",
     "events": [{"week": 5.9, "kind": "PD"}, {"week": 20.0, "kind": "death"}]},
]
# Two arms, five subjects each, hand-derived Kaplan–Meier steps (S(t) = prod(1 - d/n)):
# The Kaplan–Meier rows of the spec tests (two arms: 3 events and 2 censorings each side, checked there).

FIGURES = {
    "waterfall": charts.waterfall(WATERFALL),
    "spider": charts.spider(SPIDER),
    "swimmer": charts.swimmer(SWIMMER),
    "km": charts.kaplan_meier(KM, KM_TIMES, x_title="Months since first dose"),
}


def figure(name: str, spec) -> str:
    return (f'<figure class="card chart-card" id="figure-{name}"><figcaption><h2>{name}</h2></figcaption>'
            f'<div class="chart" data-chart="spec-{name}" role="img" aria-label="{name}"></div>'
            f'{json_script(spec, f"spec-{name}")}</figure>')


def html(body: str, *, htmx: bool = False) -> str:
    scripts = "".join(f'<script src="/static/{path}" defer></script>' for path in VENDOR)
    if htmx:
        scripts = '<script src="/static/vendor/htmx-2.0.11.min.js" defer></script>' + scripts
    return ('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>charts</title>'
            """<meta name="htmx-config" content='{"includeIndicatorStyles": false}'>"""
            '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">'
            '<link rel="stylesheet" href="/static/css/app.css"></head>'
            f'<body><main>{body}</main>{scripts}<script src="/static/js/charts.js" defer></script></body></html>')


class _Handler(SimpleHTTPRequestHandler):
    """Pages from the temporary folder, /static/ from the repository, each with the application's CSP."""

    pages: Path
    policy: str

    def translate_path(self, path):
        clean = path.split("?", 1)[0].split("#", 1)[0]
        if clean.startswith("/static/"):
            target = (STATIC / clean.removeprefix("/static/")).resolve()
            return str(target) if target.is_relative_to(STATIC) else str(self.pages / "missing")
        return super().translate_path(path)

    def end_headers(self):
        self.send_header("Content-Security-Policy", self.policy)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="module")
def csp_server(tmp_path_factory):
    pages = tmp_path_factory.mktemp("chart_pages")
    policy = build_policy(settings.SECURE_CSP)
    assert "script-src 'self'" in policy and "unsafe" not in policy
    handler = functools.partial(type("Handler", (_Handler,), {"pages": pages, "policy": policy}),
                                directory=str(pages))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{server.server_port}", "pages": pages, "policy": policy}
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def chart_page(browser, csp_server):
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    context.add_init_script(WATCH)
    page = context.new_page()
    page.set_default_timeout(15_000)
    console: list[str] = []
    page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}") if msg.type in ("error", "warning")
            else None)
    page.on("pageerror", lambda exc: console.append(f"pageerror: {exc}"))
    policy_header: list[str] = []
    page.on("response", lambda r: policy_header.append(r.headers.get("content-security-policy", ""))
            if r.url.endswith(".html") else None)

    def write(name: str, content: str) -> None:
        (csp_server["pages"] / f"{name}.html").write_text(content, encoding="utf-8")

    def open_page(name: str, content: str):
        write(name, content)
        page.goto(f"{csp_server['url']}/{name}.html")
        return page

    page.write = write
    page.open_page = open_page
    page.console = console
    page.policy_header = policy_header
    yield page
    context.close()


def marks(page, chart: str, name: str, kind: str) -> int:
    """How many items Vega drew in the mark ``name`` (the Vega-Lite layer name) of chart ``chart``."""
    return page.locator(f'[data-chart="spec-{chart}"] svg g.mark-{kind}.role-mark[class*="{name}"] > *').count()


def test_the_four_pictures_draw_under_the_csp(chart_page, csp_server, request):
    page = chart_page.open_page("all", html("".join(figure(n, s) for n, s in FIGURES.items())))
    settled = "() => document.querySelectorAll('[data-chart-drawn=yes], [data-chart-drawn=failed]').length === 4"
    page.wait_for_function(settled)
    states = page.eval_on_selector_all("[data-chart]", "els => els.map(el => el.dataset.chartDrawn)")
    assert states == ["yes"] * 4, page.console
    assert page.policy_header == [csp_server["policy"]]

    # Waterfall: a bar per subject, the two reference rules.
    assert marks(page, "waterfall", "bars", "rect") == len(WATERFALL)
    assert marks(page, "waterfall", "reference", "rule") == 2
    # Spider: a line per subject (three subjects), a point per assessment.
    assert marks(page, "spider", "lines", "line") == 3
    assert marks(page, "spider", "points", "symbol") == len(SPIDER)
    # Swimmer: a lane per subject; 6 events + 1 ongoing triangle.
    assert marks(page, "swimmer", "lanes", "rect") == 3
    assert marks(page, "swimmer", "events", "symbol") == 7
    # Kaplan–Meier: a curve and a band per arm, a + per censored time (A: 3 and 8, B: 7), 3 at-risk numbers per arm.
    assert marks(page, "km", "curves", "line") == 2
    assert marks(page, "km", "ci", "area") == 2
    assert marks(page, "km", "censored", "symbol") == 3
    assert marks(page, "km", "at_risk", "text") == 6
    at_risk = page.locator('[data-chart="spec-km"] g.mark-text.role-mark[class*="at_risk"] > text').all_text_contents()
    assert sorted(at_risk) == sorted(str(n) for c in KM for n in c["at_risk"])

    # The whole picture is inside its card: the container width was picked up ("width": "container").
    for name in FIGURES:
        box = page.locator(f'[data-chart="spec-{name}"] svg').bounding_box()
        card = page.locator(f"#figure-{name}").bounding_box()
        assert box["width"] > 300 and box["height"] > 100, name
        assert box["x"] + box["width"] <= card["x"] + card["width"] + 1, name

    # Vega labels the container with the spec's description for screen readers (the table is under it).
    for name, spec in FIGURES.items():
        assert page.get_attribute(f'[data-chart="spec-{name}"]', "aria-label") == spec["description"]

    # No style element came in (vega-embed's and the tooltip's defaults are off), no eval, no violation.
    assert page.evaluate("() => document.querySelectorAll('style').length") == 0
    assert page.evaluate("() => window.__violations") == []
    # Nor a Vega-Lite warning (a dropped property or a conflicting legend is a spec mistake).
    assert page.console == []

    folder = SCREENSHOTS / request.node.name
    folder.mkdir(parents=True, exist_ok=True)
    for name in FIGURES:
        page.locator(f"#figure-{name}").screenshot(path=str(folder / f"charts_{name}.png"))


def test_tooltip_uses_the_app_css_not_an_injected_style(chart_page, request):
    page = chart_page.open_page("tooltip", html(figure("waterfall", FIGURES["waterfall"])))
    page.wait_for_selector('[data-chart="spec-waterfall"][data-chart-drawn=yes]')
    bar = page.locator('[data-chart="spec-waterfall"] g.mark-rect.role-mark[class*="bars"] > path').first
    bar.hover()
    tooltip = page.locator("#vg-tooltip-element.visible")
    tooltip.wait_for()
    text = tooltip.inner_text()
    top = sorted(WATERFALL, key=lambda r: -r["best_pct"])[0]
    assert top["subject"] in text and top["bor"] in text
    # The tooltip is positioned (position: fixed from app.css), without an injected stylesheet.
    assert tooltip.evaluate("el => getComputedStyle(el).position") == "fixed"
    folder = SCREENSHOTS / request.node.name
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / "tooltip.png"))
    assert page.evaluate("() => document.querySelectorAll('style').length") == 0
    assert page.evaluate("() => window.__violations") == []


def test_a_broken_spec_fails_quietly_and_the_others_still_draw(chart_page):
    bad_json = ('<div class="chart" data-chart="spec-badjson"></div>'
                '<script type="application/json" id="spec-badjson">{"mark": </script>')
    bad_spec = figure("badspec", {"$schema": vegalite.SCHEMA, "mark": "no-such-mark", "data": {"values": []}})
    missing = '<div class="chart" data-chart="spec-nowhere"></div>'
    page = chart_page.open_page("broken", html(bad_json + bad_spec + missing + figure("spider", FIGURES["spider"])))
    page.wait_for_selector('[data-chart="spec-spider"][data-chart-drawn=yes]')
    page.wait_for_function("() => document.querySelectorAll('[data-chart-drawn=failed]').length === 3")
    assert marks(page, "spider", "lines", "line") == 3
    errors = [m for m in page.console if m.startswith(("error", "pageerror"))]
    assert len(errors) == 3 and all(m.startswith("error: charts.js:") for m in errors), errors
    assert page.locator(".chart-failed svg").count() == 0
    assert page.evaluate("() => window.__violations") == []


def test_a_chart_swapped_in_by_htmx_is_drawn(chart_page):
    chart_page.write("fragment", figure("swimmer", FIGURES["swimmer"]))
    body = ('<button id="load" hx-get="fragment.html" hx-target="#slot" hx-swap="innerHTML">Load</button>'
            '<div id="slot"></div>')
    page = chart_page.open_page("htmx", html(body, htmx=True))
    page.wait_for_function("() => window.htmx !== undefined")
    page.click("#load")
    page.wait_for_selector('[data-chart="spec-swimmer"][data-chart-drawn=yes]')
    assert marks(page, "swimmer", "lanes", "rect") == 3
    assert page.evaluate("() => window.__violations") == []
    assert [m for m in page.console if m.startswith(("error", "pageerror"))] == []


def test_the_canary_a_page_breaking_the_policy_is_reported(chart_page):
    """Without this the listener could be deaf and every "no violation" above would pass regardless."""
    page = chart_page.open_page("canary", html('<script>window.inlineRan = true;</script><p style="color: red">x</p>'))
    page.wait_for_function("() => window.__violations.length >= 2")
    assert page.evaluate("() => window.inlineRan === undefined")
    violations = " ".join(page.evaluate("() => window.__violations"))
    assert "script-src" in violations and "style-src" in violations
