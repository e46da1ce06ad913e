// Swarm service page: when the polled rolling-update fragment reports that the update has finished,
// reload once so the task table shows the new tasks. No inline script (CSP), textContent only.
(function () {
  "use strict";
  var RUNNING = { updating: true, rollback_started: true };
  var wasUpdating = false;

  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (target && target.id === "update-progress") {
      wasUpdating = Boolean(RUNNING[target.dataset.updateState]);
    }
  });

  document.addEventListener("htmx:afterSettle", function () {
    var fresh = document.getElementById("update-progress");
    if (fresh && wasUpdating && !RUNNING[fresh.dataset.updateState]) {
      wasUpdating = false;
      window.location.reload();
    }
  });
})();
