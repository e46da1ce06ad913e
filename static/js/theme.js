// The colour theme before the first paint (loaded without defer, in <head>; no inline scripts under
// the CSP). A signed-in page carries the user's stored theme in <html data-theme>: it is copied to
// localStorage so pages without it (the login page) paint the same way. "js" on <html> lets the CSS
// collapse the navigation behind the menu button only when a script can open it again.
(function () {
  "use strict";
  var KEY = "dashboard-theme";
  var THEMES = ["system", "light", "dark"];
  var root = document.documentElement;
  root.classList.add("js");
  try {
    var stored = root.getAttribute("data-theme");
    if (THEMES.indexOf(stored) >= 0) {
      window.localStorage.setItem(KEY, stored);
    } else {
      var kept = window.localStorage.getItem(KEY);
      if (THEMES.indexOf(kept) >= 0) { root.setAttribute("data-theme", kept); }
    }
  } catch (e) { /* storage refused (private mode): the server's value or the system's */ }
})();
