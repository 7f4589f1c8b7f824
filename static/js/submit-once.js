/* One click, one record (docs/once.md): once a form that carries a submission token has been sent,
 * its submit buttons are disabled and further submits of it are ignored, so a double click sends one
 * request. The server holds the rule without this script (a repeated token is never saved twice);
 * this only spares the second request. No inline script, no eval: the CSP's script-src 'self' holds. */
(function () {
  "use strict";

  var TOKEN = "input[name=submission_token]";
  var DISABLED_HERE = "data-submit-once-disabled";

  function tracked(form) {
    return form instanceof HTMLFormElement && form.querySelector(TOKEN) !== null;
  }

  function submitButtons(form) {
    return Array.prototype.filter.call(form.elements, function (el) {
      return (el.tagName === "BUTTON" && (el.type || "submit") === "submit") ||
        (el.tagName === "INPUT" && (el.type === "submit" || el.type === "image"));
    });
  }

  function lock(form) {
    submitButtons(form).forEach(function (button) {
      if (!button.disabled) {
        button.disabled = true;
        button.setAttribute(DISABLED_HERE, "");
        button.setAttribute("aria-busy", "true");
      }
    });
  }

  function unlock(form) {
    delete form.dataset.submitOnceSent;
    form.querySelectorAll("[" + DISABLED_HERE + "]").forEach(function (button) {
      button.disabled = false;
      button.removeAttribute(DISABLED_HERE);
      button.removeAttribute("aria-busy");
    });
  }

  // Capture phase on the document: runs before htmx's own submit listener on the form, so a second
  // submit is stopped before htmx can queue it.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!tracked(form)) {
      return;
    }
    if (form.dataset.submitOnceSent) {
      event.preventDefault();
      event.stopImmediatePropagation();
      return;
    }
    form.dataset.submitOnceSent = "1";
    // Disabled only after the browser (or htmx) has read the clicked button's name and value.
    window.setTimeout(function () { lock(form); }, 0);
  }, true);

  // An htmx request that failed (network error, an answer that is not swapped) leaves the form on the
  // page: let it be sent again. A form with errors (422) is replaced by a fresh one anyway.
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.target && event.target.closest ? event.target.closest("form") : null;
    if (form && form.isConnected && !event.detail.successful && tracked(form)) {
      unlock(form);
    }
  });

  // Back to a page restored from the browser's cache: its forms may be used again (the server still
  // recognises a token already sent).
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      document.querySelectorAll("form[data-submit-once-sent]").forEach(unlock);
    }
  });
})();
