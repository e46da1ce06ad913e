// Live overview: numbers, engine up/down and the engine's totals (CPU, memory of all running
// containers, charted with static/js/charts.js) pushed over ws/overview/ (textContent only). The
// server's loop ends with the socket, so closing the tab stops the sampling.
(function () {
  "use strict";
  var pill = document.querySelector("[data-testid=engine-live]");
  if (!pill) { return; }
  var fields = { running: "containers-running", paused: "containers-paused",
                 stopped: "containers-stopped", containers: "containers-total", images: "images-total" };
  var retry = 1000;
  var totals = document.querySelector("[data-totals]");
  var charts = null;
  if (totals && window.Dashboard.TimeChart) {
    var Chart = window.Dashboard.TimeChart;
    var blue = (getComputedStyle(document.documentElement).getPropertyValue("--accent") || "#1d63ed").trim();
    charts = {
      cpu: new Chart(totals.querySelector('canvas[data-chart="cpu"]'), { series: [{ label: "CPU", color: blue }], format: Chart.percent }),
      memory: new Chart(totals.querySelector('canvas[data-chart="memory"]'), { series: [{ label: "memory", color: blue }], format: Chart.bytes }),
    };
  }

  function showTotals(t) {
    if (!charts) { return; }
    var cpus = t.cpus || 1;
    charts.cpu.setMax(100 * cpus);
    charts.cpu.push(t.time, [t.cpu_percent]);
    charts.memory.setMax(t.memory_total || null);
    charts.memory.push(t.time, [t.memory_usage]);
    totals.dataset.samples = String(charts.cpu.points.length);
    totals.querySelector('[data-total="cpu"]').textContent = t.cpu_percent.toFixed(1) + " % of " + (100 * cpus) + " % (" + cpus + " CPU" + (cpus === 1 ? "" : "s") + ")";
    totals.querySelector('[data-total="memory"]').textContent = Chart.bytes(t.memory_usage) + " of " + Chart.bytes(t.memory_total) +
      (t.memory_total ? " (" + (100 * t.memory_usage / t.memory_total).toFixed(1) + " %)" : "");
    if (t.counted < t.running) {
      document.querySelector('[data-total="note"]').textContent = "The first " + t.counted + " of " + t.running + " running containers (the figures leave the rest out), read every 5 seconds while this page is open.";
    }
  }

  function setStatus(state, text) {
    pill.dataset.engineStatus = state;
    pill.textContent = text;
  }

  function connect() {
    var socket = new WebSocket(window.Dashboard.wsUrl(pill.dataset.ws));
    socket.onopen = function () { retry = 1000; };
    socket.onmessage = function (event) {
      var frame = JSON.parse(event.data);
      if (frame.type === "totals") { showTotals(frame); return; }
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
