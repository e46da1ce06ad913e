// Live log viewer: a bounded window of lines in the DOM, ANSI SGR colours as classes, text only via
// textContent / text nodes (never innerHTML). Frames come from ws/.../logs/ (see docs/live.md).
(function () {
  "use strict";
  var view = document.querySelector("[data-logs]");
  if (!view) { return; }

  var MAX_LINES = parseInt(view.dataset.maxLines, 10) || 10000;
  var FRAME_BUDGET_MS = 8;              // new lines taken in per animation frame: no longer than this
  var FLOOD_FRAME_MS = 100;             // new lines drawn at most this often (what the person does: at once)
  var SILENT_MS = 30000;                // no frame at all (not even a heartbeat) this long: reconnect
  var BACKOFF_MS = [1000, 2000, 4000, 8000, 15000, 30000];
  var merged = view.dataset.merged === "1";
  var statusPill = document.querySelector("[data-log-status]");
  var pauseButton = document.querySelector("[data-log-pause]");
  var jumpButton = document.querySelector("[data-log-jump]");
  var filterBox = document.querySelector("[data-log-filter]");
  var regexBox = document.querySelector("[data-log-regex]");
  var caseBox = document.querySelector("[data-log-case]");
  var tailSelect = document.querySelector("[data-log-tail]");
  var countLabel = document.querySelector("[data-log-count]");
  var sinceSelect = document.querySelector("[data-log-since]");
  var sinceAt = document.querySelector("[data-log-since-at]");
  var untilBox = document.querySelector("[data-log-until]");
  var downloadLink = document.querySelector("[data-log-download]");

  var pending = [];          // lines received but not yet in the DOM
  var dropped = 0;           // lines that left the window (reachable through Download)
  var received = 0;
  var paused = false;
  var stick = true;
  var scheduled = false;
  var matcher = null;
  var lastTs = "";
  var socket = null;
  var ended = false;
  var retries = 0;
  var retryTimer = null;
  var lastHeard = 0;
  var resumeAfter = "";      // after a reconnect: lines at or before this timestamp were shown already
  var leaving = false;
  var marker = null;
  var containerClass = {};

  // ------------------------------------------------------------------ ANSI SGR -> classed spans

  var ESC = /\x1b\[([0-9;:?]*)([A-Za-z])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][A-Za-z0-9]|\x1b[=>NOMc78]/g;

  function newState() { return { fg: null, bg: null, fgRgb: null, bgRgb: null, bold: false, dim: false, italic: false, underline: false, inverse: false }; }

  function applySgr(state, params) {
    var codes = params === "" ? [0] : params.split(/[;:]/).map(function (x) { return parseInt(x, 10) || 0; });
    for (var i = 0; i < codes.length; i++) {
      var c = codes[i];
      if (c === 0) { var fresh = newState(); for (var k in fresh) { state[k] = fresh[k]; } }
      else if (c === 1) { state.bold = true; }
      else if (c === 2) { state.dim = true; }
      else if (c === 3) { state.italic = true; }
      else if (c === 4) { state.underline = true; }
      else if (c === 7) { state.inverse = true; }
      else if (c === 22) { state.bold = false; state.dim = false; }
      else if (c === 23) { state.italic = false; }
      else if (c === 24) { state.underline = false; }
      else if (c === 27) { state.inverse = false; }
      else if (c >= 30 && c <= 37) { state.fg = c - 30; state.fgRgb = null; }
      else if (c === 39) { state.fg = null; state.fgRgb = null; }
      else if (c >= 40 && c <= 47) { state.bg = c - 40; state.bgRgb = null; }
      else if (c === 49) { state.bg = null; state.bgRgb = null; }
      else if (c >= 90 && c <= 97) { state.fg = c - 90 + 8; state.fgRgb = null; }
      else if (c >= 100 && c <= 107) { state.bg = c - 100 + 8; state.bgRgb = null; }
      else if (c === 38 || c === 48) {
        var rgb = null, index = null;
        if (codes[i + 1] === 5) { index = codes[i + 2]; i += 2; }
        else if (codes[i + 1] === 2) { rgb = [codes[i + 2], codes[i + 3], codes[i + 4]]; i += 4; }
        if (index !== null && index < 16) {
          if (c === 38) { state.fg = index; state.fgRgb = null; } else { state.bg = index; state.bgRgb = null; }
        } else {
          if (index !== null) { rgb = xterm256(index); }
          if (rgb) {
            var value = "rgb(" + rgb.join(",") + ")";
            if (c === 38) { state.fg = null; state.fgRgb = value; } else { state.bg = null; state.bgRgb = value; }
          }
        }
      }
    }
  }

  function xterm256(n) {
    if (n >= 232) { var g = 8 + (n - 232) * 10; return [g, g, g]; }
    n -= 16;
    var steps = [0, 95, 135, 175, 215, 255];
    return [steps[Math.floor(n / 36) % 6], steps[Math.floor(n / 6) % 6], steps[n % 6]];
  }

  function styled(state) {
    return state.fg !== null || state.bg !== null || state.fgRgb || state.bgRgb || state.bold ||
      state.dim || state.italic || state.underline || state.inverse;
  }

  function span(state, text) {
    var el = document.createElement("span");
    var names = [];
    if (state.fg !== null) { names.push("ansi-fg-" + state.fg); }
    if (state.bg !== null) { names.push("ansi-bg-" + state.bg); }
    if (state.bold) { names.push("ansi-bold"); }
    if (state.dim) { names.push("ansi-dim"); }
    if (state.italic) { names.push("ansi-italic"); }
    if (state.underline) { names.push("ansi-underline"); }
    if (state.inverse) { names.push("ansi-inverse"); }
    el.className = names.join(" ");
    // CSSOM, not a style attribute: allowed by the strict CSP.
    if (state.fgRgb) { el.style.color = state.fgRgb; }
    if (state.bgRgb) { el.style.backgroundColor = state.bgRgb; }
    el.textContent = text;
    return el;
  }

  // Appends the text of one line to `parent`: coloured segments, matches of the filter marked.
  function renderText(parent, raw) {
    if (raw.indexOf("\x1b") < 0) { appendMarked(parent, raw, null); return; }
    var state = newState();
    var last = 0;
    ESC.lastIndex = 0;
    var m;
    while ((m = ESC.exec(raw)) !== null) {
      if (m.index > last) { appendMarked(parent, raw.slice(last, m.index), styled(state) ? state : null); }
      if (m[2] === "m") { applySgr(state, m[1]); }
      last = ESC.lastIndex;
    }
    if (last < raw.length) { appendMarked(parent, raw.slice(last), styled(state) ? state : null); }
  }

  function appendMarked(parent, text, state) {
    var target = parent;
    if (state) { target = span(state, ""); parent.appendChild(target); }
    if (!matcher) { target.appendChild(document.createTextNode(text)); return; }
    var pos = 0;
    matcher.lastIndex = 0;
    var m;
    while ((m = matcher.exec(text)) !== null) {
      if (m[0] === "") { matcher.lastIndex++; continue; }
      if (m.index > pos) { target.appendChild(document.createTextNode(text.slice(pos, m.index))); }
      var mark = document.createElement("mark");
      mark.textContent = m[0];
      target.appendChild(mark);
      pos = m.index + m[0].length;
    }
    if (pos < text.length) { target.appendChild(document.createTextNode(text.slice(pos))); }
  }

  function plain(raw) { return raw.indexOf("\x1b") < 0 ? raw : raw.replace(ESC, ""); }

  // ------------------------------------------------------------------ the window of lines
  //
  // Lines live in `lines` (the newest MAX_LINES); `shown` is the ones the stream toggles and the
  // filter let through. Only the rows in sight (plus OVERSCAN) are in the DOM, absolutely placed
  // in a spacer as tall as every shown line (rows have one fixed height, --log-row): a flood costs
  // the page a few dozen rows per frame whatever the rate. Each animation frame first reads the
  // layout (scroll position, size), then writes (spacer, rows, scroll): no layout thrash.

  var OVERSCAN = 20;
  var space = document.createElement("div");
  space.className = "log-space";
  var rowsBox = document.createElement("div");
  space.appendChild(rowsBox);
  rowsBox.className = "log-rows";
  view.appendChild(space);
  var rowHeight = parseFloat(getComputedStyle(view).getPropertyValue("--log-row")) || 18;
  var lines = [];            // the newest MAX_LINES lines (and notices), oldest first
  var shown = [];            // those of `lines` that pass the toggles and the filter
  var hiddenStreams = {};    // "stdout"/"stderr" unchecked
  var seq = 0;               // every line gets a number: rows in the DOM are reused by it
  var rendered = new Map();  // seq -> row element now in the DOM
  var windowKey = "";
  var ownScroll = -1;        // the scrollTop render() last set: its scroll event is not the person's
  var countText = "";

  function buildLine(line) {
    if (line.notice !== undefined) {
      var note = document.createElement("div");
      note.className = "line notice " + line.kind;
      note.textContent = "— " + line.notice + " —";
      return note;
    }
    var row = document.createElement("div");
    row.className = "line " + (line.stream === "stderr" ? "stderr" : "stdout");
    if (line.ts) {
      var ts = document.createElement("span");
      ts.className = "ts";
      ts.textContent = line.ts.replace("T", " ").replace(/\.(\d{3})\d*Z$/, ".$1Z");
      row.appendChild(ts);
    }
    if (line.container) {
      var tag = document.createElement("span");
      tag.className = "ctr " + classFor(line.container);
      tag.textContent = line.container;
      row.appendChild(tag);
    }
    var text = document.createElement("span");
    text.className = "text";
    renderText(text, line.text);
    row.appendChild(text);
    return row;
  }

  function passes(line) {
    if (line.notice !== undefined) { return true; }
    if (hiddenStreams[line.stream === "stderr" ? "stderr" : "stdout"]) { return false; }
    if (!matcher) { return true; }
    matcher.lastIndex = 0;
    return matcher.test(plain(line.text));
  }

  function classFor(name) {
    if (!(name in containerClass)) { containerClass[name] = "ctr-" + (Object.keys(containerClass).length % 8); }
    return containerClass[name];
  }

  function schedule() {
    if (!scheduled && !leaving) { scheduled = true; requestAnimationFrame(render); }
  }

  // New lines alone wait until FLOOD_FRAME_MS after the last frame that took lines in. A flood cannot
  // be read at 60 frames a second; drawing it that often only adds frames, and on a loaded machine
  // each frame (its commit waits for the compositor thread) is a chance to be kept from a CPU for
  // tens of milliseconds. Scrolling, Pause, the filter and resizing still call schedule() directly.
  var linesTimer = null;
  var lastTaken = 0;
  function scheduleLines() {
    if (scheduled || linesTimer !== null || leaving) { return; }
    var wait = lastTaken + FLOOD_FRAME_MS - performance.now();
    if (wait <= 0) { schedule(); return; }
    linesTimer = setTimeout(function () { linesTimer = null; schedule(); }, wait);
  }

  // New lines into the window (not while paused: the view holds still), the oldest out.
  function takePending() {
    if (paused || pending.length === 0) { return 0; }
    lastTaken = performance.now();
    if (pending.length > MAX_LINES) {       // a burst: only the newest window can ever be seen
      dropped += pending.length - MAX_LINES;
      pending = pending.slice(pending.length - MAX_LINES);
    }
    var started = performance.now();
    var taken = 0;
    while (taken < pending.length) {
      var line = pending[taken++];
      line.seq = ++seq;
      lines.push(line);
      if (passes(line)) { shown.push(line); }
      if ((taken & 255) === 0 && performance.now() - started > FRAME_BUDGET_MS) { break; }
    }
    pending = taken === pending.length ? [] : pending.slice(taken);
    var excess = lines.length - MAX_LINES;
    if (excess <= 0) { return 0; }
    var oldest = lines[excess].seq;
    lines.splice(0, excess);
    dropped += excess;
    var gone = 0;
    while (gone < shown.length && shown[gone].seq < oldest) { gone++; }
    shown.splice(0, gone);
    return gone;
  }

  function render() {
    scheduled = false;
    if (leaving) { return; }
    // read: where the person is looking (layout is clean: nothing was written since the last frame)
    var top = view.scrollTop;
    var was = top;
    var height = view.clientHeight;
    var offset = space.offsetTop;
    // write
    var gone = takePending();
    updateMarker();
    var total = shown.length;
    space.style.height = (total * rowHeight) + "px";
    if (stick) {
      top = Math.max(0, offset + total * rowHeight - height);
    } else if (gone) {                      // rows left at the top: keep the same lines in sight
      top = Math.max(0, top - gone * rowHeight);
    }
    var first = Math.max(0, Math.floor((top - offset) / rowHeight) - OVERSCAN);
    var last = Math.min(total, Math.ceil((top - offset + height) / rowHeight) + OVERSCAN);
    var key = first < last ? shown[first].seq + ":" + shown[last - 1].seq + ":" + first : "";
    if (key !== windowKey) {
      windowKey = key;
      var keep = new Map();
      var rows = [];
      for (var i = first; i < last; i++) {
        var line = shown[i];
        var row = rendered.get(line.seq) || buildLine(line);
        keep.set(line.seq, row);
        rows.push(row);
      }
      rendered = keep;
      rowsBox.style.transform = "translateY(" + (first * rowHeight) + "px)";
      rowsBox.replaceChildren.apply(rowsBox, rows);
    }
    if ((stick || gone) && Math.abs(was - top) >= 1) {
      view.scrollTop = top;
      ownScroll = view.scrollTop;           // its scroll event needs no frame of its own
    }
    var count = received.toLocaleString("en-US") + " lines" +
      (dropped ? " · " + dropped.toLocaleString("en-US") + " older not shown" : "");
    if (count !== countText) { countText = count; countLabel.textContent = count; }
    if (pending.length && !paused) { scheduleLines(); }
  }

  // The filter or the toggles changed: which lines pass, and rows drawn again (marks change).
  function refilter() {
    shown = lines.filter(passes);
    rendered = new Map();
    windowKey = null;                       // whatever the window now is, draw it
    schedule();
  }

  function updateMarker() {
    if (!dropped) { return; }
    if (!marker) {
      marker = document.createElement("div");
      marker.className = "dropped";
      view.insertBefore(marker, view.firstChild);
    }
    marker.textContent = dropped.toLocaleString("en-US") +
      " older lines are not shown here (the view keeps the last " + MAX_LINES.toLocaleString("en-US") +
      "); use Download for the whole log.";
  }

  function clearView() {
    if (marker) { marker.remove(); }
    marker = null; dropped = 0; received = 0; pending = [];
    lines = []; shown = []; rendered = new Map(); windowKey = "";
    rowsBox.replaceChildren();
    space.style.height = "0px";
  }

  // ------------------------------------------------------------------ the socket

  function setStatus(state, text) {
    statusPill.dataset.logStatus = state;
    statusPill.textContent = text;
  }

  function addNotice(text, kind) {
    pending.push({ stream: "notice", text: "", ts: "", notice: text, kind: kind || "notice" });
    schedule();
  }

  // Engine timestamps trim trailing zeros of the nanoseconds: pad them so strings compare by time.
  function tsKey(ts) {
    var m = /^(.*?)(?:\.(\d+))?Z$/.exec(ts || "");
    if (!m) { return ts || ""; }
    return m[1] + "." + ((m[2] || "") + "000000000").slice(0, 9);
  }

  // ------------------------------------------------------------------ since / until

  // A datetime-local value is the person's own time zone: sent as UTC (RFC 3339).
  function moment(input) {
    if (!input || !input.value) { return ""; }
    var when = new Date(input.value);
    return isNaN(when.getTime()) ? "" : when.toISOString().replace(/\.000Z$/, "Z");
  }
  function range() {
    var since = "";
    if (sinceSelect) { since = sinceSelect.value === "at" ? moment(sinceAt) : sinceSelect.value; }
    return { since: since, until: moment(untilBox) };
  }

  // Download: the whole log within the range, the streams shown, the filter (a regular expression
  // on the server: a plain filter is escaped, no "case" box is (?i)).
  function updateDownload() {
    if (!downloadLink) { return; }
    var params = new URLSearchParams();
    params.set("timestamps", "1");
    var r = range();
    if (r.since) { params.set("since", r.since); }
    if (r.until) { params.set("until", r.until); }
    var out = document.querySelector('[data-log-toggle="stdout"]');
    var err = document.querySelector('[data-log-toggle="stderr"]');
    if (out && err && out.checked !== err.checked) { params.set("stream", out.checked ? "stdout" : "stderr"); }
    if (filterBox && filterBox.value) {
      var text = regexBox.checked ? filterBox.value : filterBox.value.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      params.set("grep", (caseBox.checked ? "" : "(?i)") + text);
    }
    downloadLink.href = downloadLink.dataset.logDownload + "?" + params.toString();
  }

  function connect(resume) {
    ended = false;
    clearTimeout(retryTimer);
    var params = new URLSearchParams();
    var r = range();
    params.set("timestamps", "1");
    params.set("follow", r.until ? "0" : "1");
    if (r.until) { params.set("until", r.until); }
    if (resume && lastTs) {
      params.set("since", lastTs); params.set("tail", "all"); resumeAfter = tsKey(lastTs);
    } else {
      params.set("tail", tailSelect ? tailSelect.value : "500"); resumeAfter = "";
      if (r.since) { params.set("since", r.since); }
    }
    var path = view.dataset.ws;
    var url = window.Dashboard.wsUrl(path + (path.indexOf("?") >= 0 ? "&" : "?") + params.toString());
    var opened = false;
    setStatus("connecting", "connecting…");
    socket = new WebSocket(url);
    lastHeard = Date.now();
    socket.onopen = function () { opened = true; setStatus("live", "live"); };
    socket.onmessage = function (event) {
      var frame = JSON.parse(event.data);
      lastHeard = Date.now();
      if (frame.type === "lines") {
        var lines = frame.lines;
        retries = 0;
        if (resumeAfter) {        // a resumed stream: drop what was shown before the reconnect
          var fresh = [];
          for (var r = 0; r < lines.length; r++) { if (tsKey(lines[r].ts) > resumeAfter) { fresh.push(lines[r]); } }
          if (fresh.length) { resumeAfter = ""; }
          lines = fresh;
        }
        received += lines.length;
        if (lines.length) { lastTs = lines[lines.length - 1].ts || lastTs; }
        if (pending.length + lines.length > MAX_LINES * 2) {
          var keep = Math.max(0, MAX_LINES - lines.length);
          dropped += pending.length - keep;
          pending = keep ? pending.slice(pending.length - keep) : [];
        }
        for (var i = 0; i < lines.length; i++) { pending.push(lines[i]); }
        scheduleLines();
      } else if (frame.type === "notice") {
        addNotice(frame.message);
      } else if (frame.type === "skipped") {
        addNotice(frame.count.toLocaleString("en-US") + " lines skipped (this view could not keep up; Download has them all)", "skipped");
      } else if (frame.type === "end") {
        ended = true;
        socket.close();
        setStatus("ended", "ended: " + frame.reason);
        addNotice("stream ended: " + frame.reason);
      } else if (frame.type === "error") {
        // "engine disconnected ..." is worth retrying; a refusal (bad query, cap, session) is not.
        ended = frame.message.indexOf("engine disconnected") !== 0;
        setStatus("error", frame.message);
        addNotice(frame.message, "error");
      }
    };
    socket.onclose = function (event) {
      if (leaving) { return; }
      if (!opened) {
        setStatus("error", "Could not open the live stream (websockets blocked by a proxy or firewall?)");
      } else if (!ended) {
        setStatus("offline", "disconnected (" + event.code + (event.reason ? ": " + event.reason : "") + ")");
      }
      if (!ended && event.code !== 4401 && event.code !== 4403) { retryLater(); }
      reconnectOffer();
    };
  }

  // Reconnect by itself with back-off, resuming after the last line shown (no gap, no duplicate).
  function retryLater() {
    var delay = BACKOFF_MS[Math.min(retries, BACKOFF_MS.length - 1)];
    retries++;
    setStatus("offline", "reconnecting in " + Math.round(delay / 1000) + " s…");
    clearTimeout(retryTimer);
    retryTimer = setTimeout(function () {
      var old = document.querySelector("[data-log-reconnect]");
      if (old) { old.remove(); }
      connect(true);
    }, delay);
  }

  // Heartbeats arrive every few seconds: total silence means a dead connection the browser has not noticed.
  setInterval(function () {
    if (socket && socket.readyState === WebSocket.OPEN && !ended && Date.now() - lastHeard > SILENT_MS) {
      socket.close();
    }
  }, 5000);

  // Leaving the page: stop at once (no rendering, no reconnect).
  window.addEventListener("pagehide", function () {
    leaving = true; paused = true; pending = [];
    clearTimeout(retryTimer);
    if (socket) { socket.onmessage = null; socket.close(); }
  });

  function reconnectOffer() {
    if (document.querySelector("[data-log-reconnect]")) { return; }
    var button = document.createElement("button");
    button.type = "button";
    button.dataset.logReconnect = "1";
    button.textContent = "Reconnect";
    button.addEventListener("click", function () { button.remove(); retries = 0; connect(true); });
    statusPill.after(button);
  }

  // ------------------------------------------------------------------ controls

  // Only the person's own scrolling (wheel, keys, touch, scrollbar drag) unsticks the view; our
  // trimming of old lines also fires scroll events and must not.
  var userScroll = 0;
  ["wheel", "touchmove", "keydown", "mousedown"].forEach(function (name) {
    view.addEventListener(name, function () { userScroll = Date.now(); }, { passive: true });
  });
  view.addEventListener("scroll", function () {
    var atBottom = view.scrollTop + view.clientHeight >= view.scrollHeight - 24;
    if (atBottom) { stick = true; } else if (Date.now() - userScroll < 1000) { stick = false; }
    jumpButton.hidden = stick;
    if (view.scrollTop !== ownScroll) { schedule(); }   // the rows now in sight
    ownScroll = -1;
  }, { passive: true });
  window.addEventListener("resize", schedule);
  jumpButton.addEventListener("click", function () {
    stick = true; jumpButton.hidden = true; schedule();
  });
  pauseButton.addEventListener("click", function () {
    paused = !paused;
    pauseButton.textContent = paused ? "Resume" : "Pause";
    pauseButton.setAttribute("aria-pressed", paused ? "true" : "false");
    view.classList.toggle("paused", paused);
    if (!paused) { schedule(); }
  });
  document.querySelectorAll("[data-log-toggle]").forEach(function (box) {
    var name = box.dataset.logToggle;
    var apply = function () {
      view.classList.toggle("hide-" + name, !box.checked);
      if (name !== "ts") { hiddenStreams[name] = !box.checked; refilter(); }
    };
    box.addEventListener("change", apply);
    apply();
  });
  function restart() {
    if (socket) { socket.onclose = null; socket.onmessage = null; socket.close(); }
    var old = document.querySelector("[data-log-reconnect]");
    if (old) { old.remove(); }
    lastTs = ""; retries = 0;
    clearView(); connect(false); updateDownload();
  }
  if (tailSelect) { tailSelect.addEventListener("change", restart); }
  if (sinceSelect) {
    sinceSelect.addEventListener("change", function () {
      sinceAt.hidden = sinceSelect.value !== "at";
      if (sinceSelect.value === "at") { sinceAt.focus(); if (!sinceAt.value) { return; } }
      restart();
    });
    sinceAt.addEventListener("change", restart);
  }
  if (untilBox) { untilBox.addEventListener("change", restart); }
  document.querySelectorAll("[data-log-toggle], [data-log-regex], [data-log-case]").forEach(function (box) {
    box.addEventListener("change", updateDownload);
  });
  if (filterBox) { filterBox.addEventListener("input", updateDownload); }

  var filterTimer = null;
  function applyFilter() {
    var text = filterBox.value;
    matcher = null;
    filterBox.classList.remove("invalid");
    if (text) {
      var flags = caseBox.checked ? "g" : "gi";
      try {
        matcher = new RegExp(regexBox.checked ? text : text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), flags);
      } catch (e) {
        filterBox.classList.add("invalid");
      }
    }
    view.classList.toggle("filtering", !!matcher);
    refilter();
  }
  function queueFilter() { clearTimeout(filterTimer); filterTimer = setTimeout(applyFilter, 150); }
  filterBox.addEventListener("input", queueFilter);
  regexBox.addEventListener("change", applyFilter);
  caseBox.addEventListener("change", applyFilter);
  document.querySelector("[data-log-tools]").addEventListener("submit", function (e) { e.preventDefault(); });

  document.querySelectorAll("[data-ctr-legend]").forEach(function (el) {
    el.classList.add(classFor(el.dataset.ctrLegend));
  });

  updateDownload();
  connect(false);
})();
