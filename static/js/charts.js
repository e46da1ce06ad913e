// A time chart for live figures: the last 5 minutes on a time axis, a fixed or rounded value scale
// with units, gridlines and labels, and the values under the pointer (a tip set with textContent).
// Used by the container page's live stats and the overview's engine totals;
// window.Dashboard.TimeChart(canvas, options), and TimeChart.bytes(n) for byte figures.
(function () {
  "use strict";

  var WINDOW_S = 300;

  function nice(value) {              // 1, 2, 5 x 10^n at or above value
    if (value <= 0) { return 1; }
    var power = Math.pow(10, Math.floor(Math.log10(value)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) { if (steps[i] * power >= value) { return steps[i] * power; } }
    return 10 * power;
  }
  function TimeChart(canvas, options) {
    this.canvas = canvas;
    this.options = options;           // {series: [{label, color}], format(v), max: number|null (null: rounded up from the data)}
    this.points = [];                 // [{t, values: [..]}], t in seconds
    this.max = options.max || null;
    this.hover = null;
    var tip = document.createElement("div");
    tip.className = "chart-tip";
    tip.hidden = true;
    canvas.parentNode.insertBefore(tip, canvas.nextSibling);
    this.tip = tip;
    var self = this;
    canvas.addEventListener("mousemove", function (event) { self.pointer(event); });
    canvas.addEventListener("mouseleave", function () { self.hover = null; self.tip.hidden = true; self.draw(); });
    window.addEventListener("resize", function () { self.draw(); });
  }

  TimeChart.prototype.setMax = function (max) { this.max = max; };

  TimeChart.prototype.push = function (t, values) {
    this.points.push({ t: t, values: values });
    while (this.points.length && this.points[0].t < t - WINDOW_S) { this.points.shift(); }
    this.draw();
  };

  TimeChart.prototype.scale = function () {
    if (this.max) { return this.max; }
    var top = 0;
    this.points.forEach(function (p) { p.values.forEach(function (v) { if (v > top) { top = v; } }); });
    return nice(top);
  };

  TimeChart.prototype.layout = function () {
    var ratio = window.devicePixelRatio || 1;
    var cssWidth = this.canvas.clientWidth || 300, cssHeight = this.canvas.clientHeight || 140;
    if (this.canvas.width !== Math.round(cssWidth * ratio)) { this.canvas.width = Math.round(cssWidth * ratio); }
    if (this.canvas.height !== Math.round(cssHeight * ratio)) { this.canvas.height = Math.round(cssHeight * ratio); }
    return { ratio: ratio, w: cssWidth, h: cssHeight, left: 58, right: 8, top: 8, bottom: 18 };
  };

  TimeChart.prototype.draw = function () {
    var box = this.layout();
    var ctx = this.canvas.getContext("2d");
    ctx.setTransform(box.ratio, 0, 0, box.ratio, 0, 0);
    ctx.clearRect(0, 0, box.w, box.h);
    var styles = getComputedStyle(document.documentElement);
    var muted = (styles.getPropertyValue("--muted") || "#5d6b7a").trim();
    var line = (styles.getPropertyValue("--line") || "#dde2e8").trim();
    var plotW = box.w - box.left - box.right, plotH = box.h - box.top - box.bottom;
    var top = this.scale();
    var now = this.points.length ? this.points[this.points.length - 1].t : Date.now() / 1000;
    var fmt = this.options.format;
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillStyle = muted;
    ctx.strokeStyle = line;
    ctx.lineWidth = 1;
    // value axis: 0, half, top
    [0, 0.5, 1].forEach(function (f) {
      var y = box.top + plotH * (1 - f);
      ctx.beginPath(); ctx.moveTo(box.left, Math.round(y) + 0.5); ctx.lineTo(box.w - box.right, Math.round(y) + 0.5); ctx.stroke();
      ctx.textAlign = "right"; ctx.textBaseline = "middle";
      ctx.fillText(fmt(top * f), box.left - 6, y);
    });
    // time axis: -5m ... now
    ctx.textAlign = "center"; ctx.textBaseline = "top";
    for (var m = 5; m >= 0; m--) {
      var x = box.left + plotW * (1 - (m * 60) / WINDOW_S);
      ctx.fillText(m === 0 ? "now" : "-" + m + "m", Math.min(Math.max(x, box.left + 10), box.w - box.right - 10), box.top + plotH + 4);
    }
    var self = this;
    function xy(p, v) {
      return [box.left + plotW * (1 - (now - p.t) / WINDOW_S), box.top + plotH * (1 - Math.min(v, top) / top)];
    }
    this.options.series.forEach(function (s, index) {
      if (self.points.length < 2) { return; }
      ctx.beginPath();
      ctx.strokeStyle = s.color;
      ctx.lineWidth = 1.6;
      self.points.forEach(function (p, i) {
        var at = xy(p, p.values[index] || 0);
        if (i === 0) { ctx.moveTo(at[0], at[1]); } else { ctx.lineTo(at[0], at[1]); }
      });
      ctx.stroke();
    });
    if (this.hover) {
      var at = xy(this.hover, 0);
      ctx.strokeStyle = muted; ctx.lineWidth = 1;
      ctx.beginPath(); ctx.moveTo(Math.round(at[0]) + 0.5, box.top); ctx.lineTo(Math.round(at[0]) + 0.5, box.top + plotH); ctx.stroke();
    }
    this.canvas.setAttribute("aria-label", this.describe(this.points[this.points.length - 1], top));
  };

  TimeChart.prototype.describe = function (p, top) {
    if (!p) { return "no samples yet"; }
    var fmt = this.options.format;
    return this.options.series.map(function (s, i) { return s.label + " " + fmt(p.values[i] || 0); }).join(", ") +
      " (scale 0 to " + fmt(top) + ", last 5 minutes)";
  };

  TimeChart.prototype.pointer = function (event) {
    if (!this.points.length) { return; }
    var rect = this.canvas.getBoundingClientRect();
    var box = this.layout();
    var plotW = box.w - box.left - box.right;
    var now = this.points[this.points.length - 1].t;
    var t = now - WINDOW_S * (1 - (event.clientX - rect.left - box.left) / plotW);
    var best = this.points[0];
    this.points.forEach(function (p) { if (Math.abs(p.t - t) < Math.abs(best.t - t)) { best = p; } });
    this.hover = best;
    var when = new Date(best.t * 1000).toLocaleTimeString();
    this.tip.textContent = when + " · " + this.describe(best, this.scale()).replace(/ \(scale.*$/, "");
    this.tip.hidden = false;
    this.draw();
  };

  TimeChart.bytes = function (n) {
    var units = ["B", "KiB", "MiB", "GiB", "TiB"];
    var i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
    return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
  };
  TimeChart.percent = function (v) { return (v >= 100 ? v.toFixed(0) : v.toFixed(1)) + " %"; };

  window.Dashboard = window.Dashboard || {};
  window.Dashboard.TimeChart = TimeChart;
})();
