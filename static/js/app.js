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

  window.Dashboard = window.Dashboard || {};
  window.Dashboard.wsUrl = function (path) {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    return scheme + window.location.host + path;
  };
})();
