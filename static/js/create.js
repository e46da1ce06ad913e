// The create/run form: a picker that adds volume lines, and "what this will create" from the input.
// The server checks everything again (core/container_forms.py, core/policy.py); this only explains.
// CSP: no inline code; names (from people and the engine) only ever go through textContent.
(function () {
  "use strict";
  var form = document.querySelector("form.create-form");
  if (!form) { return; }

  function options(id) {
    var found = new Map();
    var list = document.getElementById(id);
    if (list) { list.querySelectorAll("option").forEach(function (o) { found.set(o.value, o); }); }
    return found;
  }
  var images = options("image-choices");
  var volumes = options("volume-choices");
  var networks = options("network-choices");

  function value(name) {
    var field = form.elements.namedItem(name);
    return field ? field.value.trim() : "";
  }

  function lines(text) {
    return text.split(/\r?\n/).map(function (l) { return l.trim(); }).filter(Boolean);
  }

  // One mount line as the form reads it: "/data", "name:/path[:ro]" or "/host:/path[:ro]".
  function mount(line) {
    var parts = line.split(":");
    if (parts.length === 1) {
      return line.charAt(0) === "/" ? { kind: "anonymous", target: line } : null;
    }
    var source = parts[0], target = parts[1] || "";
    if (target.charAt(0) !== "/") { return null; }
    var ro = parts[2] === "ro";
    if (source.charAt(0) === "/") { return { kind: "bind", source: source, target: target, ro: ro }; }
    return { kind: volumes.has(source) ? "existing" : "new", source: source, target: target, ro: ro };
  }

  function describe(m) {
    var mode = m.ro ? " (read-only)" : "";
    if (m.kind === "anonymous") {
      return ["new", "a new anonymous volume at " + m.target + " (the engine names it)"];
    }
    if (m.kind === "bind") {
      return ["warn", "host path " + m.source + " at " + m.target + mode + " (bind mounts: admins only)"];
    }
    if (m.kind === "new") { return ["new", "a new volume " + m.source + " at " + m.target + mode]; }
    var users = volumes.get(m.source).dataset.usedBy;
    return ["existing", "the existing volume " + m.source + " at " + m.target + mode +
      (users ? " (also used by " + users + ")" : "")];
  }

  function plan() {
    var items = [];
    var image = value("image");
    var name = value("name");
    var start = form.elements.namedItem("start");
    var how = start && start.checked ? ", started" : ", created but not started";
    if (image) {
      var local = images.has(image) || images.has(image + ":latest") || /^(sha256:)?[0-9a-f]{12,64}$/.test(image);
      items.push(["new", "a container " + (name || "(the engine names it)") + " from " + image + how]);
      if (!local) {
        items.push(["warn", image + " is not among this engine's images: the dashboard does not pull"]);
      }
    }
    lines(value("volumes")).forEach(function (line) {
      var m = mount(line);
      items.push(m ? describe(m) : ["warn", "“" + line + "” is not a mount line"]);
    });
    var network = value("network");
    if (network) {
      var special = network === "host" || network.indexOf(":") >= 0;
      if (networks.has(network)) {
        items.push(["existing", "joins the network " + network + " (" + networks.get(network).dataset.driver + ")"]);
      } else if (!special) {
        items.push(["warn", "there is no network " + network + ": create it on the networks page first"]);
      }
    }
    // The Networks lines: "NETWORK [alias ...]"; the server refuses a missing one, creating nothing.
    lines(value("networks")).forEach(function (line) {
      var name = line.split(/\s+/)[0];
      if (name === network) { return; }
      if (networks.has(name)) {
        items.push(["existing", "joins the network " + name + " (" + networks.get(name).dataset.driver + ")"]);
      } else {
        items.push(["warn", "there is no network " + name + ": create it on the networks page first"]);
      }
    });
    var list = document.querySelector("[data-plan]");
    var section = list && list.closest("section");
    if (!list) { return; }
    list.replaceChildren.apply(list, items.map(function (item) {
      var li = document.createElement("li");
      li.className = "plan-" + item[0];
      li.textContent = item[1];
      return li;
    }));
    section.hidden = items.length === 0;
  }

  function pick(name) { return document.querySelector('[data-volume-picker] [data-pick="' + name + '"]'); }

  var picker = document.querySelector("[data-volume-picker]");
  if (picker) {
    picker.hidden = false;
    pick("add").addEventListener("click", function () {
      var source = pick("source").value.trim();
      var target = pick("target").value.trim();
      if (!target) { pick("target").focus(); return; }
      var line = source ? source + ":" + target + (pick("ro").checked ? ":ro" : "") : target;
      var area = form.elements.namedItem("volumes");
      area.value = area.value.replace(/\s*$/, "") + (area.value.trim() ? "\n" : "") + line;
      pick("source").value = "";
      pick("target").value = "";
      pick("ro").checked = false;
      plan();
    });
  }
  form.addEventListener("input", plan);
  form.addEventListener("change", plan);
  plan();
})();
