// Containers: live list (engine events over a websocket), bulk selection, live stats charts.
// CSP: no inline code; engine text only ever goes through textContent.
(function () {
  "use strict";

  // ------------------------------------------------------------------ list: selection
  var selected = new Set();

  function boxes() { return document.querySelectorAll('#container-table input[name="ids"]'); }

  function showCount() {
    var counter = document.querySelector("[data-selected-count]");
    if (counter) { counter.textContent = selected.size + " selected"; }
  }

  function restoreSelection() {
    boxes().forEach(function (box) { box.checked = selected.has(box.value); });
    var all = document.querySelector("[data-select-all]");
    if (all) { all.checked = false; }
    // Drop ids whose rows are gone (destroyed or filtered out).
    var present = new Set(Array.prototype.map.call(boxes(), function (b) { return b.value; }));
    selected.forEach(function (id) { if (!present.has(id)) { selected.delete(id); } });
    showCount();
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches("[data-select-all]")) {
      boxes().forEach(function (box) {
        box.checked = target.checked;
        if (target.checked) { selected.add(box.value); } else { selected.delete(box.value); }
      });
      showCount();
    } else if (target.matches('#container-table input[name="ids"]')) {
      if (target.checked) { selected.add(target.value); } else { selected.delete(target.value); }
      showCount();
    }
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.target && (event.target.id === "container-table" || document.getElementById("container-table"))) {
      restoreSelection();
    }
  });

  // Sort links re-fetch the table in place (they are real links without JS).
  document.addEventListener("click", function (event) {
    var link = event.target.closest("#container-table th a[data-sort]");
    if (!link || !window.htmx) { return; }
    event.preventDefault();
    var url = new URL(link.href, window.location.href);
    var form = document.getElementById("container-filters");
    if (form) {
      form.elements.sort.value = url.searchParams.get("sort");
      form.elements.dir.value = url.searchParams.get("dir");
    }
    refresh(true);
  });

  function currentUrl() {
    var form = document.getElementById("container-filters");
    var params = form ? new URLSearchParams(new FormData(form)) : new URLSearchParams();
    return (document.body.dataset.prefix || "") + "/containers/?" + params.toString();
  }

  var pending = null;
  function refresh(push) {
    if (!window.htmx || !document.getElementById("container-table")) { return; }
    var url = currentUrl();
    window.htmx.ajax("GET", url, { target: "#container-table", swap: "outerHTML" }).then(function () {
      if (push) { window.history.replaceState({}, "", url); }
    });
  }
  function refreshSoon() {
    if (pending) { return; }
    pending = setTimeout(function () { pending = null; refresh(false); }, 300);
  }

  // ------------------------------------------------------------------ list: live updates
  function liveList(root) {
    var pill = document.querySelector("[data-live-status]");
    function status(state, text) {
      if (!pill) { return; }
      pill.dataset.liveStatus = state;
      pill.textContent = text;
    }
    var delay = 1000;
    function connect() {
      var ws = new WebSocket(window.Dashboard.wsUrl(root.dataset.containersLive));
      ws.onopen = function () { delay = 1000; status("connecting", "connecting…"); };
      ws.onmessage = function (message) {
        var frame;
        try { frame = JSON.parse(message.data); } catch (e) { return; }
        if (frame.type === "container") {
          document.body.dataset.lastEvent = frame.action + ":" + frame.id;
          refreshSoon();
        } else if (frame.type === "ready") {
          // The engine stream is open: catch up on anything that changed since the page was built.
          status("up", "live");
          refreshSoon();
        } else if (frame.type === "error") {
          status("down", "live updates stopped");
        }
      };
      ws.onclose = function (event) {
        if (event.code === 4403 || event.code === 4401) { status("down", "not allowed"); return; }
        status("down", "reconnecting…");
        setTimeout(connect, delay);
        delay = Math.min(delay * 2, 30000);
        refreshSoon();
      };
    }
    connect();
  }

  // ------------------------------------------------------------------ detail: live stats
  function bytes(n) {
    var units = ["B", "KiB", "MiB", "GiB", "TiB"];
    var i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
    return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
  }

  function Chart(canvas) {
    this.canvas = canvas;
    this.series = [[], []];
    this.max = 60;
  }
  Chart.prototype.push = function (a, b) {
    this.series[0].push(a);
    if (b !== undefined) { this.series[1].push(b); }
    this.series.forEach(function (s) { if (s.length > this.max) { s.shift(); } }, this);
    this.draw();
  };
  Chart.prototype.draw = function () {
    var ctx = this.canvas.getContext("2d");
    var w = this.canvas.width, h = this.canvas.height;
    ctx.clearRect(0, 0, w, h);
    var top = 1;
    this.series.forEach(function (s) { s.forEach(function (v) { if (v > top) { top = v; } }); });
    var styles = getComputedStyle(document.documentElement);
    var colors = [styles.getPropertyValue("--accent") || "#1d63ed", styles.getPropertyValue("--ok") || "#1a7f37"];
    var max = this.max;
    this.series.forEach(function (s, index) {
      if (s.length < 2) { return; }
      ctx.beginPath();
      ctx.strokeStyle = colors[index].trim();
      ctx.lineWidth = 1.5;
      s.forEach(function (v, i) {
        var x = (w - 1) * (i + max - s.length) / (max - 1);
        var y = h - 2 - (h - 4) * v / top;
        if (i === 0) { ctx.moveTo(x, y); } else { ctx.lineTo(x, y); }
      });
      ctx.stroke();
    });
  };

  function liveStats(root) {
    var charts = {};
    root.querySelectorAll("canvas[data-chart]").forEach(function (c) { charts[c.dataset.chart] = new Chart(c); });
    if (!charts.cpu) { return; }
    function text(name, value) {
      var el = root.querySelector('[data-stat="' + name + '"]');
      if (el) { el.textContent = value; }
    }
    var last = null;
    var ws = new WebSocket(window.Dashboard.wsUrl(root.dataset.statsWs));
    ws.onmessage = function (message) {
      var s;
      try { s = JSON.parse(message.data); } catch (e) { return; }
      if (s.type === "stats") {
        text("cpu", s.cpu_percent.toFixed(1) + " %");
        text("memory", bytes(s.memory_usage) + " / " + bytes(s.memory_limit) + " (" + s.memory_percent.toFixed(1) + " %)");
        text("net", bytes(s.net_rx) + " / " + bytes(s.net_tx));
        text("block", bytes(s.block_read) + " / " + bytes(s.block_write));
        charts.cpu.push(s.cpu_percent);
        charts.memory.push(s.memory_usage);
        if (last) {
          var dt = Math.max(s.time - last.time, 0.1);
          charts.net.push(Math.max(s.net_rx - last.net_rx, 0) / dt, Math.max(s.net_tx - last.net_tx, 0) / dt);
          charts.block.push(Math.max(s.block_read - last.block_read, 0) / dt, Math.max(s.block_write - last.block_write, 0) / dt);
        }
        last = s;
        root.dataset.samples = String((parseInt(root.dataset.samples || "0", 10) || 0) + 1);
      } else if (s.type === "end" || s.type === "error") {
        var note = document.createElement("p");
        note.className = "muted";
        note.textContent = s.message;
        root.appendChild(note);
      }
    };
  }

  document.addEventListener("DOMContentLoaded", function () {
    var list = document.querySelector("[data-containers-live]");
    if (list) { liveList(list); restoreSelection(); }
    var stats = document.querySelector("[data-stats-ws]");
    if (stats) { liveStats(stats); }
  });
})();
