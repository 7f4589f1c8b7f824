"""The interactive API docs (/api/v1/docs/, Swagger UI from drf-spectacular-sidecar) in headless Chromium
under the application's Content-Security-Policy: signed in, the operations are listed, one expands, and
the page raises no CSP violation and no console error."""

from __future__ import annotations

import pytest

from tests.browser.test_trial_loop_browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__violations.push(e.violatedDirective + " " + (e.blockedURI || "") + " " + (e.sample || ""));
});
"""


def test_the_api_docs_work_under_the_csp(page, shot, people):
    page.add_init_script(WATCH)
    log_in(page, "coordinator")
    response = page.goto("/api/v1/docs/")
    assert response.status == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_selector(".opblock-summary-path")
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    for path in (
        "/api/v1/subjects/",
        "/api/v1/doses/",
        "/api/v1/records/{kind}/{id}/correct/",
        "/api/v1/trials/{code}/protocol/",
    ):
        assert path in [p.replace("\u200b", "") for p in paths], path
    block = page.locator(".opblock-get").filter(
        has=page.locator(".opblock-summary-path[data-path='/api/v1/subjects/']")
    )
    block.locator(".opblock-summary").first.click()
    block.locator(".opblock-body").wait_for()
    assert "status" in block.inner_text()  # the filter parameters are listed
    shot(page, "api-docs")
    violations = page.evaluate("() => window.__violations")
    assert violations == [], violations
    assert not page.problems, page.problems
