// Exec / attach terminal: xterm.js + fit addon over ws/containers/<id>/exec|attach/.
// Binary frames carry terminal bytes both ways; JSON text frames carry control (resize, exit, error).
(function () {
  "use strict";
  var box = document.querySelector("[data-terminal]");
  if (!box || typeof Terminal === "undefined") { return; }

  var statusPill = document.querySelector("[data-term-status]");
  var form = document.querySelector("[data-term-tools]");
  var encoder = new TextEncoder();

  var term = new Terminal({
    cursorBlink: true,
    scrollback: 5000,
    fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace',
    fontSize: 14,
    theme: { background: "#0f1419", foreground: "#e3e8ee" }
  });
  var fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(box);
  fit.fit();
  window.dashboardTerminal = term;   // for tests and the browser console
  var socket = null;

  function setStatus(state, text) {
    statusPill.dataset.termStatus = state;
    statusPill.textContent = text;
  }

  function send(data) {
    if (socket && socket.readyState === WebSocket.OPEN) { socket.send(data); }
  }

  term.onData(function (data) { send(encoder.encode(data)); });
  term.onBinary(function (data) {
    var bytes = new Uint8Array(data.length);
    for (var i = 0; i < data.length; i++) { bytes[i] = data.charCodeAt(i) & 255; }
    send(bytes);
  });
  // Pasted text goes as its own frame, without escape sequences or control characters other than
  // tab/CR/LF (the server strips them again): a paste cannot end a bracketed paste early
  // ("ESC[201~") and run the rest as typed commands. Capture phase: xterm's own handler never sees it.
  var ESCAPES = /\x1b\[[0-?]*[ -\/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[PX^_][^\x1b]*(?:\x1b\\)?|\x1b[ -\/]*[0-~]?|\x9b[0-?]*[ -\/]*[@-~]/g;
  var CONTROLS = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]/g;
  function sanitizePaste(text) {
    return text.replace(ESCAPES, "").replace(CONTROLS, "").replace(/\r?\n/g, "\r");
  }
  window.dashboardSanitizePaste = sanitizePaste;   // for tests
  box.addEventListener("paste", function (event) {
    event.preventDefault();
    event.stopPropagation();
    var text = event.clipboardData ? event.clipboardData.getData("text/plain") : "";
    var clean = sanitizePaste(text || "");
    if (!clean) { return; }
    var bracketed = !!(term.modes && term.modes.bracketedPasteMode);
    for (var i = 0; i < clean.length; i += 16384) {   // frames well under the server's input cap
      send(JSON.stringify({ type: "paste", data: clean.slice(i, i + 16384), bracketed: bracketed }));
    }
  }, true);

  term.onResize(function (size) { send(JSON.stringify({ type: "resize", cols: size.cols, rows: size.rows })); });

  // The terminal fills its box and follows window and layout resizes.
  var fitTimer = null;
  function refit() { clearTimeout(fitTimer); fitTimer = setTimeout(function () { fit.fit(); }, 60); }
  window.addEventListener("resize", refit);
  if (window.ResizeObserver) { new ResizeObserver(refit).observe(box); }

  function connect() {
    if (socket) { socket.onclose = null; socket.close(); }
    var params = new URLSearchParams();
    params.set("cols", term.cols);
    params.set("rows", term.rows);
    if (form) {
      ["cmd", "user", "workdir"].forEach(function (name) {
        var field = form.elements[name];
        if (field && field.value) { params.set(name, field.value); }
      });
    }
    var opened = false, finished = false;
    setStatus("connecting", "connecting…");
    socket = new WebSocket(window.Dashboard.wsUrl(box.dataset.ws + "?" + params.toString()));
    socket.binaryType = "arraybuffer";
    socket.onopen = function () {
      opened = true;
      setStatus("live", box.dataset.mode === "attach" ? "attached" : "connected");
      term.focus();
    };
    socket.onmessage = function (event) {
      if (typeof event.data !== "string") { term.write(new Uint8Array(event.data)); return; }
      var frame = JSON.parse(event.data);
      if (frame.type === "exit") {
        finished = true;
        var code = frame.code === null || frame.code === undefined ? "?" : frame.code;
        setStatus("ended", "process exited (code " + code + ")");
        term.write("\r\n\x1b[2m[process exited with code " + code + "]\x1b[0m\r\n");
      } else if (frame.type === "error") {
        finished = true;
        setStatus("error", frame.message);
        term.write("\r\n\x1b[31m" + frame.message.replace(/[\x00-\x1f]/g, " ") + "\x1b[0m\r\n");
      }
    };
    socket.onclose = function () {
      if (!opened) {
        setStatus("error", "Could not open the terminal websocket (blocked by a proxy or firewall, or no permission).");
      } else if (!finished) {
        setStatus("offline", "disconnected");
      }
    };
  }

  if (form) {
    form.addEventListener("submit", function (event) { event.preventDefault(); term.reset(); connect(); });
    var copy = form.querySelector("[data-term-copy]");
    if (copy) {
      copy.addEventListener("click", function () {
        var text = term.getSelection();
        if (text && navigator.clipboard) { navigator.clipboard.writeText(text); }
        term.focus();
      });
    }
  }
  // Ctrl+Shift+C copies the selection (Ctrl+C stays the interrupt key); paste is xterm's own.
  term.attachCustomKeyEventHandler(function (event) {
    if (event.type === "keydown" && event.ctrlKey && event.shiftKey && event.code === "KeyC") {
      var text = term.getSelection();
      if (text && navigator.clipboard) { navigator.clipboard.writeText(text); }
      return false;
    }
    return true;
  });

  if (box.dataset.running === "1") {
    connect();
  } else {
    setStatus("ended", "container not running");
    term.write("\x1b[33mThe container is not running: start it, then connect.\x1b[0m\r\n");
  }
})();
