/* Metric charts (one per metric, one trace per version or run), a parallel-coordinates chart
   of config against a chosen metric, and live updates: while a run is still running, the page
   polls /-/data/runs every few seconds and redraws. */
(function () {
  "use strict";
  var source = document.getElementById("chart-data");
  var holder = document.getElementById("charts");
  if (!source || !holder || !window.Plotly) return;
  var page = JSON.parse(source.textContent);
  var entries = page.entries.filter(function (e) { return e.run; });
  var POLL_MS = 3000;
  var charts = {};
  var font = { family: getComputedStyle(document.body).fontFamily, size: 12, color: "#1c2230" };
  var config = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["lasso2d", "select2d"] };
  var palette = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2"];

  function layout(title) {
    return {
      title: { text: title, font: { size: 13 }, x: 0.02, xanchor: "left" },
      font: font,
      height: 280,
      margin: { l: 52, r: 16, t: 38, b: 38 },
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "#ffffff",
      hovermode: "x unified",
      showlegend: entries.length > 1,
      legend: { orientation: "h", x: 1, y: 1.0, yanchor: "bottom", xanchor: "right", font: { size: 11 } },
      xaxis: { title: { text: "step", font: { size: 11 } }, gridcolor: "#eef0f3", zeroline: false },
      yaxis: { gridcolor: "#eef0f3", zeroline: false }
    };
  }

  function setStatus(running) {
    var status = document.getElementById("live-status");
    if (!status) return;
    status.className = "live" + (running ? " on" : "");
    status.textContent = running ? "Live: updating every " + POLL_MS / 1000 + " s" : "";
  }

  function draw(data) {
    var keys = {};
    entries.forEach(function (e) {
      var run = data.runs[e.run];
      if (run) Object.keys(run.history).forEach(function (k) { keys[k] = true; });
    });
    var names = Object.keys(keys).filter(function (k) { return k.charAt(0) !== "_"; }).sort();
    var empty = document.getElementById("charts-empty");
    if (empty) empty.hidden = names.length > 0;
    names.forEach(function (key) {
      var div = charts[key];
      if (!div) {
        div = document.createElement("div");
        div.className = "chart";
        div.setAttribute("data-metric", key);
        holder.appendChild(div);
        charts[key] = div;
      }
      var traces = entries.map(function (e, i) {
        var run = data.runs[e.run];
        var series = run && run.history[key];
        return {
          type: "scatter",
          mode: series && series.x.length === 1 ? "markers" : "lines",
          name: e.label,
          x: series ? series.x : [],
          y: series ? series.y : [],
          line: { color: e.color || palette[i % palette.length], width: 2 },
          marker: { color: e.color || palette[i % palette.length] },
          connectgaps: false
        };
      });
      window.Plotly.react(div, traces, layout(key), config);
    });
    var running = entries.some(function (e) {
      return data.runs[e.run] && data.runs[e.run].state === "running";
    });
    setStatus(running);
    document.querySelectorAll("[data-live-state]").forEach(function (el) {
      var run = data.runs[el.getAttribute("data-live-state")];
      if (run) {
        el.textContent = run.state;
        el.className = "state " + run.state;
      }
    });
    holder.setAttribute("data-loaded", "true");
    // A slow answer (a huge run) stretches the interval, so that polling never piles up.
    if (running) setTimeout(poll, Math.max(POLL_MS, 2 * lastFetchMs));
  }

  var lastFetchMs = 0;

  function poll() {
    if (!entries.length) return;
    var query = entries.map(function (e) { return "run=" + encodeURIComponent(e.run); }).join("&");
    var started = Date.now();
    fetch("/-/data/runs?" + query + "&max_points=1500", { credentials: "same-origin" })
      .then(function (resp) {
        lastFetchMs = Date.now() - started;
        if (!resp.ok) throw new Error("HTTP " + resp.status);
        return resp.json();
      })
      .then(draw)
      .catch(function () { if (page.running) setTimeout(poll, POLL_MS * 2); });
  }

  // -- parallel coordinates: config values against one metric ---------------------------------
  function number(v) { return typeof v === "number" && isFinite(v) ? v : null; }

  function parcoords(metric) {
    var pc = page.parcoords;
    var target = document.getElementById("parcoords");
    if (!pc || !target || !pc.rows.length) return;
    var varying = pc.config_keys.filter(function (k) {
      var seen = {};
      pc.rows.forEach(function (r) { seen[JSON.stringify(r.config[k])] = true; });
      return Object.keys(seen).length > 1;
    });
    var keys = (varying.length ? varying : pc.config_keys).slice(0, 12);
    var dims = keys.map(function (k) {
      var values = pc.rows.map(function (r) { return r.config[k]; });
      if (values.every(function (v) { return number(v) !== null; })) return { label: k, values: values };
      var labels = [];
      values.forEach(function (v) { var s = String(v); if (labels.indexOf(s) < 0) labels.push(s); });
      return {
        label: k,
        values: values.map(function (v) { return labels.indexOf(String(v)); }),
        tickvals: labels.map(function (_, i) { return i; }),
        ticktext: labels
      };
    });
    var scores = pc.rows.map(function (r) { return number(r.summary[metric]); });
    dims.push({ label: metric, values: scores });
    window.Plotly.react(target, [{
      type: "parcoords",
      line: { color: scores.map(function (s) { return s === null ? 0 : s; }), colorscale: "Viridis", showscale: true },
      labelfont: { size: 12 },
      tickfont: { size: 11 },
      dimensions: dims
    }], { font: font, height: 320, margin: { l: 70, r: 70, t: 50, b: 24 }, paper_bgcolor: "rgba(0,0,0,0)" }, config);
  }

  var picker = document.getElementById("pc-metric");
  if (picker && page.parcoords && page.parcoords.metric_keys.length) {
    page.parcoords.metric_keys.forEach(function (k) {
      var option = document.createElement("option");
      option.value = k;
      option.textContent = k;
      picker.appendChild(option);
    });
    picker.addEventListener("change", function () { parcoords(picker.value); });
    parcoords(picker.value);
  }

  poll();
})();
