// Containers: live list (engine events over a websocket), bulk selection, live stats charts.
// CSP: no inline code; engine text only ever goes through textContent.
(function () {
  "use strict";

  // ------------------------------------------------------------------ list: selection
  // Rows are checked on the page shown; "select all N matching" hands the filter to the server,
  // which acts on every container it matches, on every page (core/views/containers.py).
  var selected = new Set();
  var matchingFor = null;  // the list address (location.search) "all matching" was chosen on

  function boxes() { return document.querySelectorAll('#container-table input[name="ids"]'); }
  function matchingBox() { return document.querySelector("[data-select-matching]"); }

  function showCount() {
    var counter = document.querySelector("[data-selected-count]");
    var matching = matchingBox();
    var table = document.getElementById("container-table");
    if (counter && matching && matching.checked && table) {
      counter.textContent = "all " + table.dataset.total + " matching selected";
    } else if (counter) {
      counter.textContent = selected.size + " selected";
    }
  }

  function showMatchingOffer() {
    var label = document.querySelector("[data-select-matching-box]");
    var all = document.querySelector("[data-select-all]");
    if (label) { label.hidden = !(all && all.checked); }
  }

  function restoreSelection() {
    // Drop ids whose rows are gone (destroyed, filtered out or on another page).
    var present = new Set(Array.prototype.map.call(boxes(), function (b) { return b.value; }));
    selected.forEach(function (id) { if (!present.has(id)) { selected.delete(id); } });
    boxes().forEach(function (box) { box.checked = selected.has(box.value); });
    var all = document.querySelector("[data-select-all]");
    var matching = matchingBox();
    var keepMatching = matchingFor !== null && matchingFor === window.location.search;
    if (all) { all.checked = keepMatching || (present.size > 0 && selected.size === present.size); }
    if (matching) { matching.checked = keepMatching; }
    if (!keepMatching) { matchingFor = null; }
    showMatchingOffer();
    showCount();
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches("[data-select-all]")) {
      boxes().forEach(function (box) {
        box.checked = target.checked;
        if (target.checked) { selected.add(box.value); } else { selected.delete(box.value); }
      });
      if (!target.checked && matchingBox()) { matchingBox().checked = false; matchingFor = null; }
      showMatchingOffer();
      showCount();
    } else if (target.matches("[data-select-matching]")) {
      matchingFor = target.checked ? window.location.search : null;
      showCount();
    } else if (target.matches('#container-table input[name="ids"]')) {
      if (target.checked) { selected.add(target.value); } else { selected.delete(target.value); }
      if (!target.checked && matchingBox()) { matchingBox().checked = false; matchingFor = null; }
      showCount();
    }
  });

  // "Logs of selected": the merged log view of the checked rows (a page, not a POST: nothing changes).
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-bulk-logs]");
    if (!button) { return; }
    var max = parseInt(button.dataset.max, 10) || 20;
    var ids = Array.from(selected).map(function (id) { return id.slice(0, 12); });
    var counter = document.querySelector("[data-selected-count]");
    if (!ids.length || ids.length > max) {
      if (counter) { counter.textContent = ids.length ? "choose at most " + max + " containers for one log view" : "choose containers first"; }
      return;
    }
    window.location.href = button.dataset.bulkLogs + "?containers=" + encodeURIComponent(ids.join(","));
  });

  document.addEventListener("htmx:afterSwap", function () {
    if (document.getElementById("container-table")) { restoreSelection(); }
  });

  // The live refresh re-reads the list at its current address (filter, sort and page are in the
  // URL: htmx pushes it), so a container that belongs on another page never lands on this one.
  function currentUrl() { return window.location.pathname + window.location.search; }

  // Requests that replace the table (the filter, sort and pager links, the refresh itself): the
  // address is pushed only once such a request has swapped, so a refresh must not start while one
  // is on its way (it would read the old address and undo the filter); and of several in flight,
  // only the newest may swap.
  var inflight = 0, missed = false, sequence = 0;
  function forTable(detail) {
    var target = detail && (detail.target || (detail.requestConfig && detail.requestConfig.target));
    return !!target && target.id === "container-table";
  }
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (!forTable(event.detail)) { return; }
    inflight += 1;
    event.detail.xhr.listSequence = ++sequence;
  });
  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    if (xhr && xhr.listSequence && xhr.listSequence !== sequence) { event.detail.shouldSwap = false; }
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    if (!forTable(event.detail)) { return; }
    inflight = Math.max(0, inflight - 1);
    if (inflight === 0 && missed) { missed = false; refreshSoon(); }
  });

  var pending = null;
  function refresh() {
    if (!window.htmx || !document.getElementById("container-table")) { return; }
    if (inflight > 0) { missed = true; return; }
    window.htmx.ajax("GET", currentUrl(), { target: "#container-table", swap: "outerHTML" });
  }
  function refreshSoon() {
    if (pending) { return; }
    pending = setTimeout(function () { pending = null; refresh(); }, 300);
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

  function rate(n) { return bytes(n) + "/s"; }

  // Live stats: one TimeChart per figure (static/js/charts.js), the last 5 minutes, fixed scales where
  // there is a natural one: CPU against 100 % x the CPUs, memory against its limit.
  function liveStats(root) {
    if (!root.querySelector("canvas[data-chart]") || !window.Dashboard.TimeChart) { return; }
    var styles = getComputedStyle(document.documentElement);
    var blue = (styles.getPropertyValue("--accent") || "#1d63ed").trim();
    var green = (styles.getPropertyValue("--ok") || "#1a7f37").trim();
    function chart(name, series, format) {
      return new window.Dashboard.TimeChart(root.querySelector('canvas[data-chart="' + name + '"]'), { series: series, format: format });
    }
    var charts = {
      cpu: chart("cpu", [{ label: "CPU", color: blue }], function (v) { return (v >= 100 ? v.toFixed(0) : v.toFixed(1)) + " %"; }),
      memory: chart("memory", [{ label: "memory", color: blue }], bytes),
      net: chart("net", [{ label: "rx", color: blue }, { label: "tx", color: green }], rate),
      block: chart("block", [{ label: "read", color: blue }, { label: "write", color: green }], rate),
    };
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
        var cpus = s.cpus || 1;
        text("cpu", s.cpu_percent.toFixed(1) + " % of " + (100 * cpus) + " % (" + cpus + " CPU" + (cpus === 1 ? "" : "s") + ")");
        text("memory", bytes(s.memory_usage) + " of " + bytes(s.memory_limit) + " (" + s.memory_percent.toFixed(1) + " %)");
        charts.cpu.setMax(100 * cpus);
        charts.cpu.push(s.time, [s.cpu_percent]);
        charts.memory.setMax(s.memory_limit || null);
        charts.memory.push(s.time, [s.memory_usage]);
        if (last) {
          var dt = Math.max(s.time - last.time, 0.1);
          var rx = Math.max(s.net_rx - last.net_rx, 0) / dt, tx = Math.max(s.net_tx - last.net_tx, 0) / dt;
          var rd = Math.max(s.block_read - last.block_read, 0) / dt, wr = Math.max(s.block_write - last.block_write, 0) / dt;
          text("net", rate(rx) + " in, " + rate(tx) + " out (total " + bytes(s.net_rx) + " / " + bytes(s.net_tx) + ")");
          text("block", rate(rd) + " read, " + rate(wr) + " written (total " + bytes(s.block_read) + " / " + bytes(s.block_write) + ")");
          charts.net.push(s.time, [rx, tx]);
          charts.block.push(s.time, [rd, wr]);
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
