// The page chrome: the menu button, the theme picker, keyboard shortcuts and the command palette.
// No inline scripts (CSP); names from the engine are set with textContent only.
(function () {
  "use strict";

  var THEME_KEY = "dashboard-theme";
  var MAX_SHOWN = 50;  // palette rows at most (the server already bounds each kind)
  var DEBOUNCE_MS = 150;

  // ------------------------------------------------------------------ navigation
  var topbar = document.querySelector("[data-topbar]");
  var menuButton = document.querySelector("[data-menu-toggle]");
  function setMenu(open) {
    if (!topbar || !menuButton) { return; }
    topbar.classList.toggle("open", open);
    menuButton.setAttribute("aria-expanded", open ? "true" : "false");
  }
  if (menuButton) {
    menuButton.addEventListener("click", function () {
      setMenu(menuButton.getAttribute("aria-expanded") !== "true");
    });
  }
  var section = document.body.dataset.section;
  if (section) {
    var current = document.querySelector('.mainnav a[data-nav="' + section + '"]');
    if (current) { current.setAttribute("aria-current", "page"); }
  }

  // A table wider than its card scrolls inside it (.table-wrap): then keyboard users can reach it
  // with Tab and scroll it with the arrow keys. Checked again on resize and after htmx swaps.
  function markScrollers() {
    document.querySelectorAll(".table-wrap").forEach(function (wrap) {
      var scrolls = wrap.scrollWidth > wrap.clientWidth + 1;
      if (scrolls && !wrap.hasAttribute("tabindex")) {
        wrap.setAttribute("tabindex", "0");
        wrap.setAttribute("role", "region");
        wrap.setAttribute("aria-label", "Table (scrolls sideways)");
        wrap.dataset.scrolls = "1";
      } else if (!scrolls && wrap.dataset.scrolls) {
        ["tabindex", "role", "aria-label", "data-scrolls"].forEach(function (a) { wrap.removeAttribute(a); });
      }
    });
  }
  var resizeTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(markScrollers, 200);
  });
  document.addEventListener("htmx:afterSettle", markScrollers);
  markScrollers();

  // The user menu (a <details>) closes on a click elsewhere and on Escape, like a menu.
  var usermenu = document.querySelector("[data-usermenu]");
  if (usermenu) {
    document.addEventListener("click", function (event) {
      if (usermenu.open && !usermenu.contains(event.target)) { usermenu.open = false; }
    });
    usermenu.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && usermenu.open) {
        usermenu.open = false;
        usermenu.querySelector("summary").focus();
      }
    });
  }

  // ------------------------------------------------------------------ theme
  var themeForm = document.querySelector("[data-theme-form]");
  var themeSelect = document.querySelector("[data-theme-select]");
  if (themeForm && themeSelect) {
    themeSelect.addEventListener("change", function () {
      var value = themeSelect.value;
      document.documentElement.setAttribute("data-theme", value);
      try { window.localStorage.setItem(THEME_KEY, value); } catch (e) { /* kept server-side anyway */ }
      fetch(themeForm.action, {
        method: "POST",
        body: new FormData(themeForm),
        headers: { "X-Requested-With": "fetch" },
        credentials: "same-origin",
        keepalive: true,  // a reload or a click away right after the change still saves it
      }).then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
      }).catch(function () {
        showMessage("The theme applies here but could not be saved; try again.");
      });
    });
  }

  function showMessage(text) {
    var area = document.getElementById("messages");
    if (!area) { return; }
    var line = document.createElement("div");
    line.className = "msg msg-error";
    line.setAttribute("role", "alert");
    line.textContent = text;
    area.replaceChildren(line);
  }

  // ------------------------------------------------------------------ shortcuts
  var shortcuts = document.querySelector("[data-shortcuts]");
  var palette = document.querySelector("[data-palette]");
  var GO = { c: "containers", i: "images", v: "volumes", n: "networks", s: "stacks", r: "registries" };
  var pendingG = 0;

  function typing(target) {
    if (!target || !target.closest) { return false; }
    if (target.closest(".xterm, [data-terminal]")) { return true; }
    var tag = target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable;
  }

  function openDialog(dialog) {
    if (!dialog || dialog.open) { return; }
    if (usermenu) { usermenu.open = false; }
    document.querySelectorAll("dialog[open]").forEach(function (d) { d.close(); });
    dialog.showModal();
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.isComposing) { return; }
    var key = event.key;
    if ((event.ctrlKey || event.metaKey) && !event.altKey && (key === "k" || key === "K")) {
      if (event.target.closest && event.target.closest(".xterm, [data-terminal]")) { return; }  // the shell's ^K
      if (palette) { event.preventDefault(); openPalette(); }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
    if (document.querySelector("dialog[open]")) { return; }
    if (pendingG && Date.now() - pendingG < 1500 && GO[key]) {
      pendingG = 0;
      var link = document.querySelector('.mainnav a[data-nav="' + GO[key] + '"]');
      if (link) { event.preventDefault(); window.location.assign(link.href); }
      return;
    }
    pendingG = 0;
    if (key === "g") { pendingG = Date.now(); return; }
    if (key === "/") {
      var filter = document.querySelector("main [data-filter], main input[type=search]");
      if (filter) { event.preventDefault(); filter.focus(); filter.select(); }
      return;
    }
    if (key === "?") { event.preventDefault(); openDialog(shortcuts); }
  });
  document.querySelectorAll("[data-shortcuts-open]").forEach(function (button) {
    button.addEventListener("click", function () { openDialog(shortcuts); });
  });

  // ------------------------------------------------------------------ command palette
  if (!palette) { return; }
  var input = palette.querySelector("[data-palette-input]");
  var list = palette.querySelector("[data-palette-results]");
  var status = palette.querySelector("[data-palette-status]");
  var searchUrl = palette.dataset.searchUrl;
  var sequence = 0;
  var timer = null;
  var active = -1;

  function pages() {
    var seen = {};
    var out = [];
    document.querySelectorAll(".mainnav a[data-nav], [data-palette-page]").forEach(function (a) {
      var name = a.dataset.palettePage || a.textContent.trim();
      if (!seen[a.href]) { seen[a.href] = true; out.push({ kind: "page", name: name, detail: "", url: a.href }); }
    });
    return out;
  }

  function render(items) {
    list.replaceChildren();
    active = -1;
    items.slice(0, MAX_SHOWN).forEach(function (item, index) {
      var li = document.createElement("li");
      li.id = "palette-option-" + index;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", "false");
      li.dataset.url = item.url;
      var kind = document.createElement("span");
      kind.className = "palette-kind";
      kind.textContent = item.kind;
      var name = document.createElement("span");
      name.className = "palette-name";
      name.textContent = item.name;
      name.title = item.name;
      li.append(kind, name);
      if (item.detail) {
        var detail = document.createElement("span");
        detail.className = "palette-detail muted small";
        detail.textContent = item.detail;
        li.append(detail);
      }
      li.addEventListener("click", function () { window.location.assign(item.url); });
      list.append(li);
    });
    if (list.children.length) { select(0); } else { input.removeAttribute("aria-activedescendant"); }
  }

  function select(index) {
    var options = list.children;
    if (!options.length) { return; }
    active = (index + options.length) % options.length;
    for (var i = 0; i < options.length; i++) {
      options[i].setAttribute("aria-selected", i === active ? "true" : "false");
    }
    input.setAttribute("aria-activedescendant", options[active].id);
    options[active].scrollIntoView({ block: "nearest" });
  }

  function matchingPages(text) {
    var needle = text.toLowerCase();
    return pages().filter(function (p) { return p.name.toLowerCase().indexOf(needle) >= 0; });
  }

  function search() {
    var text = input.value.trim();
    var mine = ++sequence;
    var local = matchingPages(text);
    render(local);
    if (!text) { status.textContent = "Type a name; Enter opens the selected match."; return; }
    status.textContent = "Searching…";
    fetch(searchUrl + "?q=" + encodeURIComponent(text), {
      headers: { "HX-Request": "true", "Accept": "application/json" },
      credentials: "same-origin",
    }).then(function (response) {
      if (!response.ok) {
        return response.text().then(function (body) {
          var type = response.headers.get("Content-Type") || "";
          var said = type.indexOf("text/plain") === 0 ? body.trim().slice(0, 300) : "";
          throw new Error(said || "The dashboard answered " + response.status + ".");
        });
      }
      return response.json();
    }).then(function (data) {
      if (mine !== sequence) { return; }
      var all = local.concat(data.results || []);
      render(all);
      status.textContent = all.length ? (data.more ? "More match: type more of the name." : "")
                                      : "Nothing called that.";
    }).catch(function (error) {
      if (mine !== sequence) { return; }
      status.textContent = "Only pages listed: " + error.message;
    });
  }

  function openPalette() {
    openDialog(palette);
    input.value = "";
    search();
    input.focus();
  }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(search, DEBOUNCE_MS);
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "ArrowDown") { event.preventDefault(); select(active + 1); }
    else if (event.key === "ArrowUp") { event.preventDefault(); select(active - 1); }
    else if (event.key === "Enter") {
      event.preventDefault();
      var option = list.children[active];
      if (option) { window.location.assign(option.dataset.url); }
    }
  });
  palette.addEventListener("click", function (event) {
    if (event.target === palette) { palette.close(); }  // a click on the backdrop
  });
  document.querySelectorAll("[data-palette-open]").forEach(function (button) {
    button.addEventListener("click", openPalette);
  });
})();
