// Registries pages. No inline scripts (CSP); registry data is only ever set with textContent.
(function () {
  "use strict";

  // The push form: the reference must name this registry's host (the server checks it too).
  function checkReference(input) {
    var host = input.dataset.registryHost;
    if (!host) { return; }
    var ok = input.value.indexOf(host + "/") === 0 && input.value.length > host.length + 1;
    input.setCustomValidity(ok ? "" : "The reference must start with " + host + "/");
  }

  document.addEventListener("input", function (event) {
    if (event.target.matches && event.target.matches("input[data-registry-host]")) {
      checkReference(event.target);
    }
  });
  document.addEventListener("submit", function (event) {
    var input = event.target.querySelector && event.target.querySelector("input[data-registry-host]");
    if (input) {
      checkReference(input);
      if (!input.checkValidity()) { event.preventDefault(); input.reportValidity(); }
    }
  }, true);
})();
