// The `docker` command equivalent of a form (run/create, pull, push), built in the browser from the
// form's values as they are typed, shell-quoted, shown as text (textContent) with a Copy button.
// A form opts in with data-cli="run|pull|push" and holds a <code data-cli-out id=...>.
(function () {
  "use strict";

  var SAFE = /^[A-Za-z0-9_\/:.,=@%+^-]+$/;
  // POSIX shell quoting: a word of safe characters stays bare, anything else goes in single quotes
  // (a single quote inside becomes '\'' ).
  function quote(word) {
    word = String(word);
    if (word !== "" && SAFE.test(word)) { return word; }
    return "'" + word.replace(/'/g, "'\\''") + "'";
  }

  function value(form, name) {
    var field = form.elements.namedItem(name);
    if (!field) { return ""; }
    if (field.type === "checkbox") { return field.checked; }
    return (field.value || "").trim();
  }
  function lines(form, name) {
    return String(value(form, name) || "").split(/\r?\n/).map(function (l) { return l.trim(); }).filter(Boolean);
  }

  // The command and entrypoint are split into words the way the server does (shell-like): simple
  // quotes and backslashes; a word that does not parse is passed as typed.
  function words(text) {
    var out = [], word = "", quoteChar = "", has = false;
    for (var i = 0; i < text.length; i++) {
      var c = text[i];
      if (quoteChar) {
        if (c === quoteChar) { quoteChar = ""; } else if (c === "\\" && quoteChar === '"' && i + 1 < text.length) { word += text[++i]; } else { word += c; }
      } else if (c === "'" || c === '"') { quoteChar = c; has = true; }
      else if (c === "\\" && i + 1 < text.length) { word += text[++i]; has = true; }
      else if (/\s/.test(c)) { if (has || word) { out.push(word); } word = ""; has = false; }
      else { word += c; }
    }
    if (has || word) { out.push(word); }
    return out;
  }

  function run(form) {
    var args = ["docker", value(form, "start") ? "run" : "create"];
    if (value(form, "start")) { args.push("-d"); }
    function opt(flag, v) { if (v !== "" && v !== false && v !== null && v !== undefined) { args.push(flag, quote(v)); } }
    opt("--name", value(form, "name"));
    if (value(form, "interactive")) { args.push("-i"); }
    if (value(form, "tty")) { args.push("-t"); }
    var restart = value(form, "restart");
    if (restart && restart !== "no") { opt("--restart", restart); }
    lines(form, "env").forEach(function (l) { opt("-e", l); });
    lines(form, "ports").forEach(function (l) { opt("-p", l); });
    lines(form, "volumes").forEach(function (l) { opt("-v", l); });
    lines(form, "labels").forEach(function (l) { opt("-l", l); });
    opt("--network", value(form, "network"));
    lines(form, "networks").forEach(function (l) {
      var parts = l.split(/\s+/);
      opt("--network", ["name=" + parts[0]].concat(parts.slice(1).map(function (a) { return "alias=" + a; })).join(","));
    });
    opt("-w", value(form, "workdir"));
    opt("-u", value(form, "user"));
    opt("--memory", value(form, "memory"));
    opt("--memory-reservation", value(form, "memory_reservation"));
    opt("--cpus", value(form, "cpus"));
    opt("--cpu-shares", value(form, "cpu_shares"));
    opt("--pids-limit", value(form, "pids_limit"));
    var health = value(form, "health_cmd");
    if (health && health.toUpperCase() === "NONE") { args.push("--no-healthcheck"); }
    else if (health) {
      opt("--health-cmd", health);
      opt("--health-interval", value(form, "health_interval"));
      opt("--health-timeout", value(form, "health_timeout"));
      opt("--health-retries", value(form, "health_retries"));
      opt("--health-start-period", value(form, "health_start_period"));
    }
    opt("--log-driver", value(form, "log_driver"));
    if (value(form, "log_max_size")) { opt("--log-opt", "max-size=" + value(form, "log_max_size")); }
    if (value(form, "log_max_file")) { opt("--log-opt", "max-file=" + value(form, "log_max_file")); }
    if (value(form, "privileged")) { args.push("--privileged"); }
    lines(form, "cap_add").forEach(function (l) { opt("--cap-add", l); });
    opt("--pid", value(form, "pid"));
    var entry = words(String(value(form, "entrypoint") || ""));
    if (entry.length) { opt("--entrypoint", entry[0]); }
    args.push(quote(value(form, "image") || "IMAGE"));
    entry.slice(1).concat(words(String(value(form, "command") || ""))).forEach(function (w) { args.push(quote(w)); });
    return args.join(" ");
  }

  function pull(form) {
    return "docker pull " + quote(value(form, "reference") || "IMAGE");
  }

  function push(form) {
    var target = quote(value(form, "reference") || "REGISTRY/REPOSITORY:TAG");
    var source = form.dataset.cliSource ? quote(form.dataset.cliSource) : "";
    return (source ? "docker tag " + source + " " + target + " && " : "") + "docker push " + target;
  }

  var BUILDERS = { run: run, pull: pull, push: push };

  function update(form) {
    var out = form.querySelector("[data-cli-out]") ||
      (form.dataset.cliOut ? document.getElementById(form.dataset.cliOut) : null);
    var build = BUILDERS[form.dataset.cli];
    if (out && build) { out.textContent = build(form); }
  }

  function all() { document.querySelectorAll("form[data-cli]").forEach(update); }
  document.addEventListener("input", function (event) {
    var form = event.target.form;
    if (form && form.dataset.cli) { update(form); }
  });
  document.addEventListener("change", function (event) {
    var form = event.target.form;
    if (form && form.dataset.cli) { update(form); }
  });
  document.addEventListener("htmx:afterSwap", all);
  window.Dashboard = window.Dashboard || {};
  window.Dashboard.shellQuote = quote;
  all();
})();
