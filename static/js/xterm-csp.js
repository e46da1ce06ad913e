// Lets xterm.js run under the strict CSP (style-src 'self', no inline <style>), on every page that
// shows a terminal (exec/attach, recording replay). Load it before xterm.js.
(function () {
  "use strict";
  // xterm.js writes its theme and cell-size rules into <style> elements, which the strict CSP
  // (style-src 'self') refuses. Give those elements a textContent that feeds a constructable
  // stylesheet instead (CSSOM, allowed by the CSP). Even an empty <style> is reported as a
  // violation, so xterm gets an inert <template> element in its place.
  var createElement = document.createElement;
  document.createElement = function (tag, options) {
    var isStyle = String(tag).toLowerCase() === "style" && window.CSSStyleSheet && document.adoptedStyleSheets;
    var element = createElement.call(document, isStyle ? "template" : tag, options);
    if (isStyle) {
      var sheet = new CSSStyleSheet();
      var text = "";
      document.adoptedStyleSheets = document.adoptedStyleSheets.concat([sheet]);
      Object.defineProperty(element, "textContent", {
        configurable: true,
        get: function () { return text; },
        set: function (value) { text = String(value); sheet.replaceSync(text); }
      });
    }
    return element;
  };
})();
