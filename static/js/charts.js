/* Efficacy pictures (docs/response.md): every element with data-chart="<id>" is drawn from the Vega-Lite
 * spec in <script type="application/json" id="<id>"> (Django's json_script), by the vendored Vega,
 * Vega-Lite, vega-embed and vega-interpreter (static/vendor/vega/VERSIONS.txt).
 *
 * The Content-Security-Policy (script-src 'self'; style-src 'self') holds without 'unsafe-eval' or
 * 'unsafe-inline' because:
 *  - the spec is read as JSON, never run;
 *  - Vega-Lite compiles it here, and Vega parses the result with ast: true, so expressions stay syntax
 *    trees that vega-interpreter evaluates; Vega's default code generator (new Function) is never called;
 *  - defaultStyle: false keeps vega-embed from adding its <style> element, actions: false drops the
 *    export menu (which needs that style), and the tooltip handler's own <style> is switched off with
 *    disableDefaultStyle: the CSS of both lives in static/css/app.css under "charts".
 * A picture that cannot be drawn is logged with console.error and left empty: the data table under each
 * picture (the template's <details>) carries the same numbers. */
(function () {
  "use strict";

  var DRAWN = "chartDrawn"; // data-chart-drawn: "yes" once embedded, "failed" when it could not be
  var views = new WeakMap();

  // vega-tooltip puts its text into innerHTML; its default sanitiser escapes only & and <.
  function escapeHtml(value) {
    return String(value)
      .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
  }

  function options() {
    return {
      mode: "vega-lite",
      renderer: "svg",
      actions: false,
      defaultStyle: false,
      ast: true,
      expr: window.vegaInterpreter.expressionInterpreter,
      tooltip: {disableDefaultStyle: true, theme: "light", sanitize: escapeHtml}
    };
  }

  function fail(el, message, error) {
    el.dataset[DRAWN] = "failed";
    el.classList.add("chart-failed");
    console.error("charts.js: " + message, error || "");
  }

  function draw(el) {
    if (el.dataset[DRAWN]) {
      return;
    }
    el.dataset[DRAWN] = "pending";
    var id = el.getAttribute("data-chart");
    var source = id ? document.getElementById(id) : null;
    if (!source || source.tagName !== "SCRIPT" || source.type !== "application/json") {
      fail(el, "no <script type=\"application/json\" id=\"" + id + "\"> for data-chart");
      return;
    }
    if (typeof window.vegaEmbed !== "function" || !window.vegaInterpreter) {
      fail(el, "vega-embed or vega-interpreter is not loaded");
      return;
    }
    var spec;
    try {
      spec = JSON.parse(source.textContent);
    } catch (error) {
      fail(el, "the spec in #" + id + " is not JSON", error);
      return;
    }
    try {
      window.vegaEmbed(el, spec, options()).then(function (result) {
        el.dataset[DRAWN] = "yes";
        views.set(el, result);
      }, function (error) {
        fail(el, "could not draw #" + id, error);
      });
    } catch (error) {
      fail(el, "could not draw #" + id, error);
    }
  }

  function drawAll(root) {
    var scope = root && root.querySelectorAll ? root : document;
    if (scope.matches && scope.matches("[data-chart]")) {
      draw(scope);
    }
    scope.querySelectorAll("[data-chart]").forEach(draw);
  }

  // A view listens to window resizes: finalize it when htmx removes its element, or it lives on. htmx
  // fires htmx:beforeCleanupElement on every element it removes, children included.
  function release(el) {
    var result = el ? views.get(el) : null;
    if (result) {
      views.delete(el);
      result.finalize();
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  } else {
    drawAll(document);
  }
  document.addEventListener("htmx:afterSettle", function (event) { drawAll(event.target); });
  document.addEventListener("htmx:beforeCleanupElement", function (event) { release(event.target); });
})();
