// Idle-timeout warning (docs/security.md). The server decides: it signs a session out after
// SESSION_IDLE_MINUTES without a request. This script asks it how long is left (a request that does not
// count as activity), shows a warning SESSION_WARNING_SECONDS before the end with a "Stay signed in"
// button (a request that does), and takes the page to the sign-in page when the session has ended.
// Other tabs' activity is seen because the time left is always asked of the server before acting.
(function () {
  "use strict";
  const body = document.body;
  const statusUrl = body.dataset.sessionStatus;
  const keepaliveUrl = body.dataset.sessionKeepalive;
  const loginUrl = body.dataset.sessionLogin;
  const banner = document.getElementById("session-warning");
  if (!statusUrl || !keepaliveUrl || !banner) return;
  const countdown = banner.querySelector("[data-session-countdown]");
  const stay = banner.querySelector("[data-session-stay]");
  let timer = null;
  let ticker = null;
  let deadline = 0;

  function csrfToken() {
    try { return JSON.parse(body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || ""; } catch (e) { return ""; }
  }

  function signIn() {
    const next = window.location.pathname + window.location.search;
    window.location.assign(loginUrl + "?next=" + encodeURIComponent(next));
  }

  function format(seconds) {
    const s = Math.max(0, Math.ceil(seconds));
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  function hide() {
    banner.hidden = true;
    clearInterval(ticker);
    ticker = null;
  }

  function show() {
    banner.hidden = false;
    const tick = function () {
      const left = (deadline - Date.now()) / 1000;
      countdown.textContent = format(left);
      if (left <= 0) { clearInterval(ticker); ticker = null; check(); }
    };
    tick();
    if (!ticker) ticker = setInterval(tick, 1000);
    stay.focus();
  }

  function schedule(status) {
    clearTimeout(timer);
    if (!status.signed_in || status.seconds_left <= 0) { signIn(); return; }
    deadline = Date.now() + status.seconds_left * 1000;
    const untilWarning = status.seconds_left - status.warning_seconds;
    if (untilWarning > 0) {
      hide();
      timer = setTimeout(check, untilWarning * 1000);
    } else {
      show();
      timer = setTimeout(check, Math.max(1, status.seconds_left) * 1000);
    }
  }

  function request(url, options) {
    return fetch(url, Object.assign({ credentials: "same-origin", headers: { "Accept": "application/json" } }, options))
      .then(function (response) {
        if (!response.ok) throw new Error("session status " + response.status);
        return response.json();
      });
  }

  function check() {
    request(statusUrl, { method: "GET" }).then(schedule).catch(function () {
      // The server did not answer: try again shortly; the server's own clock still ends the session.
      clearTimeout(timer);
      timer = setTimeout(check, 15000);
    });
  }

  stay.addEventListener("click", function () {
    stay.disabled = true;
    request(keepaliveUrl, { method: "POST", headers: { "Accept": "application/json", "X-CSRFToken": csrfToken() } })
      .then(schedule).catch(check).finally(function () { stay.disabled = false; });
  });

  // Any htmx request is activity on the server: ask again how long is left. Not when the answer sends
  // the page elsewhere (HX-Redirect, e.g. to the lockout page after a signature's failed credentials):
  // the status would then say "signed out" and this script would race htmx to the sign-in page.
  document.addEventListener("htmx:afterRequest", function (event) {
    const xhr = event.detail && event.detail.xhr;
    if (xhr && (xhr.getResponseHeader("HX-Redirect") || xhr.getResponseHeader("HX-Refresh"))) {
      clearTimeout(timer);
      return;
    }
    check();
  });
  check();
})();
