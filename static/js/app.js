// Small behaviours shared by every page. No inline scripts (CSP): everything hangs off data-* attributes.
// Text from the engine is only ever set with textContent, never innerHTML.
(function () {
  "use strict";

  function copyText(button) {
    var target = document.getElementById(button.dataset.copy);
    var text = target ? target.textContent : button.dataset.copyText || "";
    navigator.clipboard.writeText(text).then(function () {
      var old = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = old; }, 1200);
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy], [data-copy-text]");
    if (button) { event.preventDefault(); copyText(button); }
  });

  // Confirm before submitting forms marked data-confirm (the real confirm step is server-side).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  }, true);

  // The one handler for failed htmx requests: the server's message (core.middleware.error_response
  // answers htmx with text/plain) goes into the messages area, as text. A 503 to a filter or a
  // polled fragment used to do nothing at all.
  var MAX_MESSAGE = 500;
  function showError(text) {
    var area = document.getElementById("messages");
    if (!area) { return; }
    var line = document.createElement("div");
    line.className = "msg msg-error";
    line.setAttribute("role", "alert");
    line.textContent = text.length > MAX_MESSAGE ? text.slice(0, MAX_MESSAGE) + "…" : text;
    area.replaceChildren(line);
  }
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var type = xhr.getResponseHeader("Content-Type") || "";
    var text = type.indexOf("text/plain") === 0 ? xhr.responseText.trim() : "";
    showError(text || "The server answered " + xhr.status + " " + (xhr.statusText || "") + ".");
  });
  document.addEventListener("htmx:sendError", function () {
    showError("The dashboard is not answering; check your connection and try again.");
  });

  // A name-in-addresses field (data-slug-from="<id of the name field>") follows the name as you type,
  // like django.utils.text.slugify, until you type in it yourself; an edit form's filled one stays.
  function slugify(text) {
    return text.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase()
      .replace(/[^\w\s-]/g, "").replace(/[-\s]+/g, "-").replace(/^[-_]+|[-_]+$/g, "").slice(0, 50);
  }
  document.querySelectorAll("[data-slug-from]").forEach(function (slug) {
    var name = document.getElementById(slug.dataset.slugFrom);
    if (!name) { return; }
    var follow = slug.value === "" || slug.value === slugify(name.value);
    slug.addEventListener("input", function () { follow = slug.value === ""; });
    name.addEventListener("input", function () { if (follow) { slug.value = slugify(name.value); } });
  });

  window.Dashboard = window.Dashboard || {};
  window.Dashboard.wsUrl = function (path) {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    return scheme + window.location.host + path;
  };
})();
