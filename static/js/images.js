// Live progress of a job (ws/jobs/<id>/). Text only via textContent.
(function () {
  "use strict";
  var root = document.querySelector("[data-job-ws]");
  if (!root) { return; }
  var layersBox = root.querySelector(".layers");
  var logBox = root.querySelector(".job-log");
  var messageBox = root.querySelector(".job-message");
  var statusPill = document.querySelector("[data-job-status]");
  var template = document.getElementById("layer-template");
  var layerNodes = {};
  var lineCount = 0;
  var finished = false;

  function human(bytes) {
    var units = ["B", "KB", "MB", "GB", "TB"];
    var i = 0;
    while (bytes >= 1024 && i < units.length - 1) { bytes /= 1024; i += 1; }
    return (i === 0 ? bytes : bytes.toFixed(1)) + " " + units[i];
  }

  function setBar(node, name, pair) {
    var bar = node.querySelector(".bar-" + name);
    var label = node.querySelector(".bytes-" + name);
    var current = pair[0], total = pair[1];
    bar.classList.toggle("hidden", !total);
    label.classList.toggle("hidden", !total);
    if (total) {
      bar.max = total;
      bar.value = Math.min(current, total);
      label.textContent = (name === "extract" ? "extract " : "") + human(current) + " / " + human(total);
    }
  }

  // A job over several resources (bulk actions, prunes): one row per resource with its outcome, and
  // a bar of how many are done.
  function showItem(layer) {
    var node = layerNodes[layer.id];
    if (!node) {
      node = document.createElement("div");
      node.className = "layer item";
      var name = document.createElement("span");
      name.className = "layer-id mono";
      name.textContent = layer.id;
      var status = document.createElement("span");
      status.className = "layer-status";
      node.append(name, " ", status);
      layersBox.appendChild(node);
      layerNodes[layer.id] = node;
    }
    if (layer.title) { node.querySelector(".layer-id").title = layer.title; }
    node.querySelector(".layer-status").textContent = layer.status || "";
    node.dataset.outcome = layer.outcome || "waiting";
    var rows = Object.keys(layerNodes).map(function (k) { return layerNodes[k]; }).filter(function (n) { return n.classList.contains("item"); });
    var finishedRows = rows.filter(function (n) { return n.dataset.outcome === "ok" || n.dataset.outcome === "failed" || n.dataset.outcome === "skipped"; });
    var box = root.querySelector("[data-job-items]");
    if (box) {
      box.classList.remove("hidden");
      var bar = box.querySelector("progress");
      bar.max = rows.length; bar.value = finishedRows.length;
      box.querySelector("[data-job-items-count]").textContent = finishedRows.length + " of " + rows.length + " done" +
        (finishedRows.some(function (n) { return n.dataset.outcome === "failed"; }) ? " (some failed)" : "");
    }
  }

  function showLayer(layer) {
    if (layer.item) { showItem(layer); return; }
    var node = layerNodes[layer.id];
    if (!node) {
      node = template.content.firstElementChild.cloneNode(true);
      node.querySelector(".layer-id").textContent = layer.id;
      layersBox.appendChild(node);
      layerNodes[layer.id] = node;
    }
    node.querySelector(".layer-status").textContent = layer.status;
    node.dataset.layerStatus = layer.status;
    setBar(node, "transfer", layer.transfer || [0, 0]);
    setBar(node, "extract", layer.extract || [0, 0]);
  }

  function addLines(lines, first) {
    var text = "";
    for (var i = 0; i < lines.length; i += 1) {
      if (first + i >= lineCount) { text += lines[i] + "\n"; }
    }
    lineCount = Math.max(lineCount, first + lines.length);
    if (text) {
      logBox.appendChild(document.createTextNode(text));
      logBox.scrollTop = logBox.scrollHeight;
    }
  }

  function setStatus(status, message, result) {
    statusPill.textContent = status;
    statusPill.dataset.jobStatus = status;
    if (status !== "running") {
      finished = true;
      messageBox.textContent = message;
      messageBox.classList.remove("hidden");
      messageBox.classList.toggle("msg-error", status === "error" || status === "interrupted");
      messageBox.classList.toggle("msg-success", status === "success");
    }
    if (result) {
      var link = root.querySelector("[data-job-result]");
      // The page's reversed image URL with a placeholder id (the script prefix carries the endpoint).
      link.href = root.dataset.imageUrl.replace(/0{12}\/$/, result.replace("sha256:", "").slice(0, 12) + "/");
      link.parentNode.classList.remove("hidden");
    }
  }

  function onFrame(frame) {
    if (frame.type === "state") {
      logBox.textContent = "";
      lineCount = frame.first_line || 0;
      (frame.layers || []).forEach(showLayer);
      addLines(frame.lines || [], frame.first_line || 0);
      setStatus(frame.status, frame.message, frame.result);
    } else if (frame.type === "progress") {
      (frame.layers || []).forEach(showLayer);
      addLines(frame.lines || [], frame.first_line || 0);
    } else if (frame.type === "done") {
      setStatus(frame.status, frame.message, frame.result);
    } else if (frame.type === "error") {
      setStatus("error", frame.message, "");
    }
  }

  function connect() {
    var socket = new WebSocket(window.Dashboard.wsUrl(root.dataset.jobWs));
    socket.addEventListener("message", function (event) { onFrame(JSON.parse(event.data)); });
    socket.addEventListener("close", function (event) {
      var refused = event.code === 4403 || event.code === 4404;
      if (!finished && !refused) { setTimeout(connect, 2000); }
    });
  }
  connect();
})();
