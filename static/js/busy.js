// Busy state of every POST: the button that sent a form (or an htmx request) is disabled and says so
// while the request runs, so a slow stop or a bulk restart cannot be sent twice. One script for forms
// and htmx; every page has it (base.html includes templates/_actions.html). A POST that started a job
// followed in place (jobs.js marks its form data-job-running) stays busy until the job ends.
(function () {
  "use strict";
  if (window.Dashboard && window.Dashboard.busy) { return; }

  function label(button) {
    return button.dataset.busyText || (button.textContent.replace(/[….]+$/, "").trim() + "…");
  }

  function setBusy(button) {
    if (!button || button.dataset.busy === "1" || !button.matches("button, input[type=submit]")) { return; }
    button.dataset.busy = "1";
    button.dataset.idleText = button.textContent;
    button.setAttribute("aria-busy", "true");
    button.classList.add("is-busy");
    button.textContent = label(button);
    button.disabled = true;
  }

  function clearBusy(button) {
    if (!button || button.dataset.busy !== "1") { return; }
    delete button.dataset.busy;
    button.removeAttribute("aria-busy");
    button.classList.remove("is-busy");
    if (button.dataset.idleText !== undefined) { button.textContent = button.dataset.idleText; }
    button.disabled = false;
  }

  // Forms: after the confirm handler (capture phase, app.js) has had its say. The button is disabled
  // on the next tick: disabling it now would drop its name=value (the bulk "action") from the post.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented || (form.method || "").toLowerCase() !== "post" || form.hasAttribute("hx-post")) { return; }
    if (form.dataset.submitting === "1") { event.preventDefault(); return; }
    form.dataset.submitting = "1";
    var button = event.submitter || form.querySelector("button[type=submit], button:not([type])");
    setTimeout(function () {
      setBusy(button);
      form.querySelectorAll("button[type=submit], button:not([type])").forEach(function (other) {
        if (other !== button) { other.disabled = true; other.dataset.busyOther = "1"; }
      });
    }, 0);
  });

  // Back/forward cache: a page shown again must not keep disabled buttons.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) { return; }
    document.querySelectorAll("form[data-submitting]").forEach(function (form) { delete form.dataset.submitting; });
    document.querySelectorAll("[data-busy='1']").forEach(clearBusy);
    document.querySelectorAll("[data-busy-other]").forEach(function (b) { b.disabled = false; delete b.dataset.busyOther; });
  });

  // htmx: the element that triggered a non-GET request.
  function htmxButton(event) {
    var elt = event.detail && event.detail.elt;
    var verb = event.detail && event.detail.requestConfig ? event.detail.requestConfig.verb : "";
    if (!elt || !verb || verb.toLowerCase() === "get") { return null; }
    if (elt.tagName === "FORM") {
      return (event.detail.requestConfig.triggeringEvent || {}).submitter || elt.querySelector("button[type=submit], button:not([type])");
    }
    // Only a button is ever marked busy: an htmx request whose source is a container (the body, a
    // row) must not have its content replaced by a busy label.
    return elt.closest("button, input[type=submit]");
  }
  document.addEventListener("htmx:beforeRequest", function (event) {
    var button = htmxButton(event);
    if (button) { event.detail.busyButton = button; setBusy(button); }
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var button = htmxButton(event);
    if (button && document.contains(button) && !button.closest("[data-job-running]")) { clearBusy(button); }
  });

  window.Dashboard = window.Dashboard || {};
  window.Dashboard.busy = { set: setBusy, clear: clearBusy };
})();
