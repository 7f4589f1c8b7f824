"""The cohort dashboard's pictures in headless Chromium (docs/dashboard.md): the escalation path, cumulative
enrolment and overdue visits are drawn (an SVG inside each ``[data-chart]``) under the application's
Content-Security-Policy, with no console error, Vega-Lite warning or policy violation; the sponsor's page
names no subject, the investigator's names the subjects of their site."""

from __future__ import annotations

import pytest

from tests.browser.test_trial_loop_browser import log_in
from tests.escalation.test_dashboard_views import build_board

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WATCH = ("window.__csp = []; document.addEventListener('securitypolicyviolation', "
         "e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));")
FIGURES = ("path", "enrolment", "overdue")


def _drawn(page) -> dict:
    page.wait_for_function("() => [...document.querySelectorAll('[data-chart]')].every("
                           "el => el.dataset.chartDrawn === 'yes' || el.dataset.chartDrawn === 'failed')")
    return page.evaluate("() => Object.fromEntries([...document.querySelectorAll('[data-chart]')].map("
                         "el => [el.closest('figure').id, [el.dataset.chartDrawn, "
                         "el.querySelectorAll('svg, canvas').length, "
                         "el.querySelectorAll('svg .role-mark > path, svg .role-mark > line, "
                         "svg .role-mark > text').length]]))")


def _look(page, shot, name: str, warnings: list[str]) -> str:
    page.goto(f"/trials/{name}/dashboard/")
    drawn = _drawn(page)
    assert sorted(drawn) == sorted(f"figure-{f}" for f in FIGURES), drawn
    assert all(state == "yes" and svgs >= 1 and marks > 0 for state, svgs, marks in drawn.values()), drawn
    # Each picture fits in its card (the container's width was picked up, nothing spills over).
    for figure in FIGURES:
        chart = page.locator(f"#figure-{figure} [data-chart] svg").bounding_box()
        card = page.locator(f"#figure-{figure}").bounding_box()
        assert chart["width"] > 250 and chart["height"] > 50, figure
        assert chart["x"] + chart["width"] <= card["x"] + card["width"] + 1, figure
    assert page.evaluate("() => window.__csp") == []
    assert page.evaluate("() => document.querySelectorAll('style').length") == 0
    assert page.problems == []
    assert warnings == []
    return page.content()


def test_dashboard_pictures_draw_and_name_subjects_only_for_site_staff(page, shot, people, escalated,
                                                                      site_a, site_b):
    board = build_board(escalated, people, site_a, site_b)
    board["grow"]()
    trial = board["trial"]
    codes = {s.code: s.site.code for s in board["subjects"]}
    page.add_init_script(WATCH)
    warnings: list[str] = []
    page.on("console", lambda msg: warnings.append(msg.text) if msg.type == "warning" else None)

    log_in(page, "sponsor")
    html = _look(page, shot, trial.code, warnings)
    assert not [code for code in codes if code in html]
    assert "#2" in page.locator("#table-path td").all_text_contents()  # subjects by their enrolment number
    # The path: a symbol per subject, a rule per decided (or awaiting) cohort.
    symbols = page.locator("#figure-path g.mark-symbol.role-mark[class*='subjects'] > path")
    assert symbols.count() == len(codes)
    assert page.locator("#figure-path g.mark-rule.role-mark[class*='decisions'] > line").count() == 2
    folder = shot(page, "sponsor").parent
    for figure in FIGURES:
        page.locator(f"#figure-{figure}").screenshot(path=str(folder / f"sponsor-{figure}.png"))

    log_in(page, "investigator")
    html = _look(page, shot, trial.code, warnings)
    shown = {code for code in codes if code in html}
    assert shown == {code for code, site in codes.items() if site == site_a.code}
    assert shown <= set(page.locator("#table-path td").all_text_contents())
    shot(page, "investigator")
