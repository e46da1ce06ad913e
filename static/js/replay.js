// Replays an asciicast v2 recording in xterm.js with its timing: play/pause, speed, restart.
// The file is data: output goes to term.write (the terminal parses it; OSC 52 clipboard writes are
// not supported by xterm.js core), input and the title are shown with textContent only.
(function () {
  "use strict";
  var box = document.getElementById("replay");
  if (!box || typeof Terminal === "undefined") { return; }
  var toggle = document.querySelector("[data-replay-toggle]");
  var speedSelect = document.querySelector("[data-replay-speed]");
  var restartButton = document.querySelector("[data-replay-restart]");
  var clock = document.querySelector("[data-replay-clock]");
  var inputBox = document.querySelector("[data-replay-input]");
  var titleBox = document.querySelector("[data-testid=cast-title]");

  var term = null, events = [], index = 0, position = 0, playing = false, timer = null;
  var lastTick = 0;

  function parse(text) {
    var lines = text.split("\n").filter(function (line) { return line.trim() !== ""; });
    var header = JSON.parse(lines.shift());
    var parsed = [];
    lines.forEach(function (line) {
      try {
        var item = JSON.parse(line);
        if (Array.isArray(item) && item.length === 3) { parsed.push(item); }
      } catch (e) { /* a torn last line of a live recording */ }
    });
    return { header: header, events: parsed };
  }

  function setClock() { clock.textContent = position.toFixed(1) + " s"; }

  function apply(item) {
    if (item[1] === "o") { term.write(String(item[2])); }
    else if (item[1] === "i") { inputBox.textContent += String(item[2]); }
    else if (item[1] === "r") {
      var size = String(item[2]).split("x");
      var cols = parseInt(size[0], 10), rows = parseInt(size[1], 10);
      if (cols > 0 && rows > 0 && cols < 1000 && rows < 1000) { term.resize(cols, rows); }
    }
  }

  function tick() {
    var now = performance.now();
    position += (now - lastTick) / 1000 * parseFloat(speedSelect.value || "1");
    lastTick = now;
    while (index < events.length && events[index][0] <= position) { apply(events[index]); index += 1; }
    setClock();
    if (index >= events.length) { pause(); toggle.textContent = "Replay"; box.dataset.state = "ended"; return; }
    var wait = (events[index][0] - position) * 1000 / parseFloat(speedSelect.value || "1");
    timer = setTimeout(tick, Math.max(10, Math.min(wait, 250)));
  }

  function play() {
    if (index >= events.length) { restart(); }
    playing = true; toggle.textContent = "Pause"; box.dataset.state = "playing";
    lastTick = performance.now();
    tick();
  }

  function pause() {
    playing = false; clearTimeout(timer); toggle.textContent = "Play";
    if (box.dataset.state !== "ended") { box.dataset.state = "paused"; }
  }

  function restart() {
    clearTimeout(timer); term.reset(); inputBox.textContent = ""; index = 0; position = 0; setClock();
    box.dataset.state = "paused";
  }

  fetch(box.dataset.castUrl, { credentials: "same-origin" })
    .then(function (response) {
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.text();
    })
    .then(function (text) {
      var cast = parse(text);
      events = cast.events;
      titleBox.textContent = String(cast.header.title || "");
      term = new Terminal({ cols: cast.header.width || 80, rows: cast.header.height || 24,
                            disableStdin: true, convertEol: false, scrollback: 5000 });
      term.open(box);
      box.dataset.state = "ready";
      toggle.addEventListener("click", function () { if (playing) { pause(); } else { play(); } });
      restartButton.addEventListener("click", function () { var was = playing; pause(); restart(); if (was) { play(); } });
      play();
    })
    .catch(function (error) {
      box.dataset.state = "error";
      box.textContent = "Could not load the recording: " + error.message;
    });
})();
