// A job started by an htmx POST (a single stop/restart, ...) followed in place: the server answers
// with HX-Trigger {"dashboard:job": {url, ws, doing}}; the button stays busy while the job runs, a line
// in the messages area says what it is doing (the row's own words), then the outcome by name. On
// success the page is loaded again (it shows the new state) with the outcome kept for one view.
// Text from the job is only ever set with textContent.
(function () {
  "use strict";
  if (window.Dashboard && window.Dashboard.jobs) { return; }
  var FLASH = "dashboard.jobFlash";

  function line(kind, text, url, title) {
    var area = document.getElementById("messages");
    if (!area) { return null; }
    var node = document.createElement("div");
    node.className = "msg msg-" + kind;
    node.setAttribute("role", kind === "error" ? "alert" : "status");
    node.dataset.testid = "job-inline";
    var words = document.createElement("span");
    words.textContent = text;
    if (title) { words.title = title; }  // the id on hover, as the server's messages have it
    node.appendChild(words);
    if (url) {
      var link = document.createElement("a");
      link.href = url;
      link.textContent = "job details";
      node.append(" (", link, ")");
    }
    area.replaceChildren(node);
    return words;
  }

  function follow(form, detail) {
    var button = form.querySelector("[data-busy='1']") || form.querySelector("button[type=submit], button:not([type])");
    form.dataset.jobRunning = "1";
    var words = line("info", detail.doing, detail.url);
    var finished = false;
    var title = "";
    var socket = null;
    function end(kind, text) {
      if (finished) { return; }
      finished = true;
      if (socket) { socket.close(); }
      delete form.dataset.jobRunning;
      if (kind === "success") {
        try { sessionStorage.setItem(FLASH, JSON.stringify({ text: text, url: detail.url, title: title })); } catch (e) { /* private mode */ }
        window.location.reload();
        return;
      }
      line("error", text, detail.url, title);
      if (window.Dashboard.busy && button) { window.Dashboard.busy.clear(button); }
    }
    socket = new WebSocket(window.Dashboard.wsUrl(detail.ws));
    socket.addEventListener("message", function (event) {
      var frame = JSON.parse(event.data);
      var rows = frame.layers || [];
      rows.forEach(function (row) {
        if (!row.item) { return; }
        if (row.title) { title = row.title; }
        if (row.status && words) { words.textContent = row.id + ": " + row.status; }
      });
      if (frame.type === "state" && frame.status !== "running") { end(frame.status, frame.message); }
      else if (frame.type === "done") { end(frame.status, frame.message); }
      else if (frame.type === "error") { end("error", frame.message); }
    });
    socket.addEventListener("close", function () {
      if (!finished) { end("error", "Lost the job's progress; its page says how it ended."); }
    });
  }

  document.addEventListener("dashboard:job", function (event) {
    var form = event.target.closest("form") || event.target;
    follow(form, event.detail);
  });

  // The outcome of a job that ended just before this page was loaded again.
  try {
    var flash = JSON.parse(sessionStorage.getItem(FLASH) || "null");
    sessionStorage.removeItem(FLASH);
    if (flash && flash.text) {
      var show = function () { line("success", flash.text, flash.url, flash.title); };
      if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", show); } else { show(); }
    }
  } catch (e) { /* no storage: the job page keeps the outcome */ }

  window.Dashboard = window.Dashboard || {};
  window.Dashboard.jobs = { follow: follow };
})();
