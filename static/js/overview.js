// Live overview: numbers and engine up/down pushed over ws/overview/ (textContent only).
(function () {
  "use strict";
  var pill = document.querySelector("[data-testid=engine-live]");
  if (!pill) { return; }
  var fields = { running: "containers-running", paused: "containers-paused",
                 stopped: "containers-stopped", containers: "containers-total", images: "images-total" };
  var retry = 1000;

  function setStatus(state, text) {
    pill.dataset.engineStatus = state;
    pill.textContent = text;
  }

  function connect() {
    var socket = new WebSocket(window.Dashboard.wsUrl(pill.dataset.ws));
    socket.onopen = function () { retry = 1000; };
    socket.onmessage = function (event) {
      var frame = JSON.parse(event.data);
      if (frame.type !== "status") { return; }
      if (frame.engine === "up") {
        setStatus("up", "engine up · live");
        Object.keys(fields).forEach(function (key) {
          var el = document.querySelector('[data-testid="' + fields[key] + '"]');
          if (el && typeof frame[key] === "number") { el.textContent = frame[key].toLocaleString("en-US"); }
        });
      } else {
        setStatus("down", "engine down: " + frame.message);
      }
    };
    socket.onclose = function () {
      setStatus("offline", "live updates paused, reconnecting…");
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 30000);
    };
  }
  connect();
})();
