/* Metric charts (one per metric, one line per version or run), a parallel-coordinates chart
   of config against a chosen metric, and live updates: while a run is still running, the page
   polls /-/data/runs every few seconds and redraws.

   The user's metrics come first; system/* metrics sit in a collapsed <details> and are drawn
   when it is opened. Controls: smoothing (an exponential moving average, debiased as in
   TensorBoard; the raw line stays drawn faintly), the x axis, log scales. The x axis is by
   default each metric's own: the step metric its run declared with define_metric, else the
   step; it can also be the step, wall time, time since the run started, or any declared step
   metric (the server then sends each series along it: a metric not logged with it has no
   points and its chart is hidden). Metrics declared hidden are not drawn, only named. Where
   the server thinned a series it sends each bucket's mean with its lowest and highest value,
   drawn as a band.

   Every string from user data (metric and config keys, run names) goes through esc() before
   Plotly sees it as a title, axis title, trace name (legend and hover) or parcoords label:
   Plotly renders those as a subset of HTML (links included), and only entities show a "<" as
   text. Parcoords tick text is the exception: Plotly writes it as plain text. The DOM built
   here is given text with textContent, never markup. */
(function () {
  "use strict";
  var source = document.getElementById("chart-data");
  var holder = document.getElementById("charts");
  if (!source || !holder || !window.Plotly) return;
  var page = JSON.parse(source.textContent);
  var entries = page.entries.filter(function (e) { return e.run; });
  var POLL_MS = 3000;
  var STORE = "modelbay.charts";
  var systemBox = document.getElementById("system-charts");
  var systemHolder = document.getElementById("charts-system");
  var charts = {};
  var font = { family: getComputedStyle(document.body).fontFamily, size: 12, color: "#1c2230" };
  var config = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["lasso2d", "select2d"] };
  var palette = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2"];
  var settings = { smoothing: 0, x: "auto", logY: false, logX: false };
  var lastData = null;
  var METRIC = "metric:";  // an x-axis choice naming a declared step metric
  var savedX = null;       // a saved metric choice, kept until the data offers it

  /** Text for Plotly's pseudo-HTML: shown as typed, never as markup. */
  function esc(value) {
    return String(value).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  function color(e, i) { return e.color || palette[i % palette.length]; }

  function isSystem(key) { return key.indexOf("system/") === 0; }

  // -- controls ---------------------------------------------------------------------------
  var controls = {
    smoothing: document.getElementById("chart-smoothing"),
    smoothingValue: document.getElementById("chart-smoothing-value"),
    x: document.getElementById("chart-x"),
    logY: document.getElementById("chart-log-y"),
    logX: document.getElementById("chart-log-x")
  };

  function loadSettings() {
    try {
      var saved = JSON.parse(window.localStorage.getItem(STORE) || "{}");
      if (typeof saved.smoothing === "number" && saved.smoothing >= 0 && saved.smoothing < 1) settings.smoothing = saved.smoothing;
      if (["auto", "step", "wall", "relative"].indexOf(saved.x) >= 0) settings.x = saved.x;
      else if (typeof saved.x === "string" && saved.x.indexOf(METRIC) === 0) savedX = saved.x;
      settings.logY = saved.logY === true;
      settings.logX = saved.logX === true;
    } catch (err) { /* no storage (private mode): defaults */ }
  }

  function saveSettings() {
    try { window.localStorage.setItem(STORE, JSON.stringify(settings)); } catch (err) { /* ignore */ }
  }

  function showSettings() {
    if (!controls.smoothing) return;
    controls.smoothing.value = String(settings.smoothing);
    controls.smoothingValue.textContent = settings.smoothing.toFixed(2);
    controls.x.value = settings.x;
    controls.logY.checked = settings.logY;
    controls.logX.checked = settings.logX;
    controls.logX.disabled = settings.x === "wall";  // a log scale of dates means nothing
  }

  function wireControls() {
    if (!controls.smoothing) return;
    controls.smoothing.addEventListener("input", function () {
      settings.smoothing = Math.min(0.99, Math.max(0, parseFloat(controls.smoothing.value) || 0));
      changed();
    });
    controls.x.addEventListener("change", function () { settings.x = controls.x.value; changed(); });
    controls.logY.addEventListener("change", function () { settings.logY = controls.logY.checked; changed(); });
    controls.logX.addEventListener("change", function () { settings.logX = controls.logX.checked; changed(); });
  }

  function changed() {
    saveSettings();
    showSettings();
    // A different axis of data (along a metric, or by step) is fetched; time axes reuse it.
    if (lastData && dataAxis() !== lastAxis) poll();
    else if (lastData) render(lastData);
  }

  /** What the server is asked to read the series along, for the chosen x axis. The time
      axes draw every point at its time, so data read by step or the default will do. */
  function dataAxis() {
    if (settings.x.indexOf(METRIC) === 0) return settings.x.slice(METRIC.length);
    if (settings.x === "wall" || settings.x === "relative") return lastAxis === "step" ? "step" : "auto";
    return settings.x;
  }

  /** The declared step metrics of the runs shown, offered as x axes (as text options). */
  function offerAxes(data) {
    if (!controls.x) return;
    var axes = {};
    entries.forEach(function (e) {
      var run = data.runs[e.run];
      if (run) (run.axes || []).forEach(function (a) { axes[a] = true; });
    });
    var have = {};
    controls.x.querySelectorAll("option[data-declared]").forEach(function (o) {
      if (!axes[o.value.slice(METRIC.length)]) o.remove(); else have[o.value] = true;
    });
    Object.keys(axes).sort().forEach(function (a) {
      if (have[METRIC + a]) return;
      var option = document.createElement("option");
      option.value = METRIC + a;
      option.textContent = a;
      option.setAttribute("data-declared", "");
      controls.x.appendChild(option);
    });
    if (savedX && axes[savedX.slice(METRIC.length)]) {
      settings.x = savedX;
      savedX = null;
      showSettings();
    }
  }

  /** The metrics declared hidden, named (as text) under the charts. */
  function showHidden(data) {
    var note = document.getElementById("charts-hidden");
    if (!note) return;
    var hidden = {};
    entries.forEach(function (e) {
      var run = data.runs[e.run];
      if (run) (run.hidden || []).forEach(function (k) { hidden[k] = true; });
    });
    var names = Object.keys(hidden).sort();
    note.hidden = names.length === 0;
    note.textContent = names.length ? "Hidden metrics: " + names.join(", ") : "";
  }

  // -- series -----------------------------------------------------------------------------
  /** Exponential moving average, debiased so that the first points are not pulled to 0;
      a gap (null) stays a gap and does not move the average. */
  function smooth(ys, weight) {
    if (!weight) return ys;
    var last = 0, debias = 0;
    return ys.map(function (y) {
      if (y === null || !isFinite(y)) return null;
      last = last * weight + (1 - weight) * y;
      debias = debias * weight + (1 - weight);
      return last / debias;
    });
  }

  /** Seconds per unit of the relative-time axis: the largest span decides. */
  function relativeUnit(data) {
    var span = 0;
    entries.forEach(function (e) {
      var run = data.runs[e.run];
      if (!run) return;
      Object.keys(run.history).forEach(function (k) {
        var t = run.history[k].t;
        if (t.length) span = Math.max(span, t[t.length - 1] - run.started);
      });
    });
    if (span >= 2 * 3600) return { size: 3600, name: "hours" };
    if (span >= 2 * 60) return { size: 60, name: "minutes" };
    return { size: 1, name: "seconds" };
  }

  function xValues(series, run, unit) {
    if (settings.x === "wall") return series.t.map(function (t) { return t * 1000; });
    if (settings.x === "relative") return series.t.map(function (t) { return (t - run.started) / unit.size; });
    return series.x;
  }

  /** The x-axis title of one metric's chart: its runs' axes when each metric has its own. */
  function axisTitle(data, key) {
    if (settings.x.indexOf(METRIC) === 0) return settings.x.slice(METRIC.length);
    if (settings.x !== "auto") return "step";
    var axes = [];
    entries.forEach(function (e) {
      var run = data.runs[e.run];
      var series = run && run.history[key];
      if (series && axes.indexOf(series.axis) < 0) axes.push(series.axis);
    });
    return axes.length ? axes.join(" / ") : "step";
  }

  function traces(data, key, unit) {
    var out = [];
    var lines = [];
    entries.forEach(function (e, i) {
      var run = data.runs[e.run];
      var series = run && run.history[key];
      var c = color(e, i);
      var xs = series ? xValues(series, run, unit) : [];
      var ys = series ? series.y : [];
      var group = "g" + i;
      if (series && series.lo) {
        // The band: the buckets' highs left to right, then their lows back, as one shape.
        var upper = [], lower = [], bx = [];
        for (var j = 0; j < xs.length; j++) {
          if (series.lo[j] !== null && series.hi[j] !== null) {
            bx.push(xs[j]); upper.push(series.hi[j]); lower.push(series.lo[j]);
          }
        }
        out.push({
          type: "scatter", mode: "lines", fill: "toself", name: esc(e.label), legendgroup: group,
          x: bx.concat(bx.slice().reverse()), y: upper.concat(lower.reverse()),
          line: { width: 0, color: c }, fillcolor: c, opacity: 0.18,
          hoverinfo: "skip", showlegend: false, meta: "band"
        });
      }
      var smoothed = smooth(ys, settings.smoothing);
      if (smoothed !== ys) {
        out.push({
          type: "scatter", mode: "lines", name: esc(e.label), legendgroup: group, x: xs, y: ys,
          line: { color: c, width: 1 }, opacity: 0.3, hoverinfo: "skip", showlegend: false,
          connectgaps: false, meta: "raw"
        });
      }
      lines.push({
        type: "scatter",
        mode: xs.length === 1 ? "markers" : "lines",
        name: esc(e.label),
        legendgroup: group,
        x: xs,
        y: smoothed,
        line: { color: c, width: 2 },
        marker: { color: c },
        connectgaps: false,
        meta: "line"
      });
    });
    return out.concat(lines);  // lines last: drawn on top, first in the hover
  }

  function layout(key, unit, data) {
    var xTitle = { wall: "time", relative: "time since start (" + unit.name + ")" }[settings.x] || axisTitle(data, key);
    return {
      title: { text: esc(key), font: { size: 13 }, x: 0.02, xanchor: "left" },
      font: font,
      height: 280,
      margin: { l: 52, r: 16, t: 38, b: 38 },
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "#ffffff",
      hovermode: "x unified",
      showlegend: entries.length > 1,
      legend: { orientation: "h", x: 1, y: 1.0, yanchor: "bottom", xanchor: "right", font: { size: 11 } },
      // A new uirevision resets zoom when the axes change, and keeps it across live redraws.
      uirevision: [settings.x, settings.logX, settings.logY].join(),
      xaxis: {
        title: { text: esc(xTitle), font: { size: 11 } },
        type: settings.x === "wall" ? "date" : settings.logX ? "log" : "linear",
        gridcolor: "#eef0f3",
        zeroline: false
      },
      yaxis: { type: settings.logY ? "log" : "linear", gridcolor: "#eef0f3", zeroline: false }
    };
  }

  function chartDiv(key, parent) {
    var div = charts[key];
    if (!div) {
      div = document.createElement("div");
      div.className = "chart";
      div.setAttribute("data-metric", key);
      parent.appendChild(div);
      charts[key] = div;
    }
    return div;
  }

  function render(data) {
    var keys = {};
    entries.forEach(function (e) {
      var run = data.runs[e.run];
      if (run) Object.keys(run.history).forEach(function (k) { keys[k] = true; });
    });
    var names = Object.keys(keys).filter(function (k) { return k.charAt(0) !== "_"; }).sort();
    // A chart drawn before (another axis, or a metric since declared hidden) without data now.
    Object.keys(charts).forEach(function (k) { charts[k].hidden = !keys[k]; });
    offerAxes(data);
    showHidden(data);
    var user = names.filter(function (k) { return !isSystem(k); });
    var system = names.filter(isSystem);
    var empty = document.getElementById("charts-empty");
    if (empty) empty.hidden = user.length > 0 || system.length > 0;
    var unit = relativeUnit(data);
    user.forEach(function (key) {
      window.Plotly.react(chartDiv(key, holder), traces(data, key, unit), layout(key, unit, data), config);
    });
    if (systemBox && systemHolder) {
      systemBox.hidden = system.length === 0;
      document.getElementById("system-count").textContent = "(" + system.length + ")";
      // Drawn only while open: a chart drawn in a closed <details> has no width to fill.
      if (systemBox.open) {
        system.forEach(function (key) {
          window.Plotly.react(chartDiv(key, systemHolder), traces(data, key, unit), layout(key, unit, data), config);
        });
      }
    }
  }

  function setStatus(running) {
    var status = document.getElementById("live-status");
    if (!status) return;
    status.className = "live" + (running ? " on" : "");
    status.textContent = running ? "Live: updating every " + POLL_MS / 1000 + " s" : "";
  }

  function draw(data, axis) {
    lastData = data;
    lastAxis = axis;
    render(data);
    // A saved choice of a declared axis, first offered by this data, wants data along it.
    if (dataAxis() !== axis) { poll(); return; }
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
    if (running) schedule(Math.max(POLL_MS, 2 * lastFetchMs));
  }

  var lastFetchMs = 0;
  var lastAxis = null;
  var fetching = 0;  // the newest request: an answer to an older one (another axis) is dropped

  var timer = null;

  /** One pending poll at most: a poll asked for early (a new axis) replaces it. */
  function schedule(ms) {
    clearTimeout(timer);
    timer = setTimeout(poll, ms);
  }

  function poll() {
    clearTimeout(timer);
    if (!entries.length) return;
    var query = entries.map(function (e) { return "run=" + encodeURIComponent(e.run); }).join("&");
    var axis = dataAxis();
    var started = Date.now();
    var mine = ++fetching;
    fetch("/-/data/runs?" + query + "&max_points=1000&x=" + encodeURIComponent(axis), { credentials: "same-origin" })
      .then(function (resp) {
        lastFetchMs = Date.now() - started;
        if (!resp.ok) throw new Error("HTTP " + resp.status);
        return resp.json();
      })
      .then(function (data) { if (mine === fetching) draw(data, axis); })
      .catch(function () { if (page.running) schedule(POLL_MS * 2); });
  }

  // -- parallel coordinates: config values against one metric ---------------------------------
  function number(v) { return typeof v === "number" && isFinite(v) ? v : null; }

  /** A long key cut to fit above its axis (the axes stand about 110 px apart). */
  function short(text, most) {
    most = most || 24;
    return text.length > most ? text.slice(0, most - 1) + "\u2026" : text;
  }

  function missing(v) { return v === undefined || v === null; }

  /** lo, hi, and round values between them (about five ticks in all). */
  function niceTicks(lo, hi) {
    if (hi <= lo) return [lo];
    var raw = (hi - lo) / 4;
    var mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var step = [1, 2, 2.5, 5, 10].map(function (m) { return m * mag; }).filter(function (s) { return s >= raw; })[0];
    var ticks = [lo];
    for (var t = Math.ceil(lo / step) * step; t < hi; t += step) {
      if (t - lo > step / 3 && hi - t > step / 3) ticks.push(+t.toPrecision(12));
    }
    return ticks.concat([hi]);
  }

  /** One axis. Its label is pseudo-HTML to Plotly, its tick text plain text (escaping it
      would show "&lt;"). A value that is missing (a run without this key) sits on a slot of its own
      at the bottom, labelled "missing", so that its line stays on the axis. */
  function dimension(label, values) {
    var absent = values.some(missing);
    var present = values.filter(function (v) { return !missing(v); });
    var numeric = present.length > 0 && present.every(function (v) { return number(v) !== null; });
    if (numeric) {
      var lo = Math.min.apply(null, present), hi = Math.max.apply(null, present);
      if (!absent) return { label: esc(short(label)), values: values };
      var gap = hi > lo ? (hi - lo) / 4 : Math.abs(lo) / 4 || 1;
      var slot = lo - gap;
      var ticks = niceTicks(lo, hi);
      return {
        label: esc(short(label)),
        values: values.map(function (v) { return missing(v) ? slot : v; }),
        range: [slot, hi],
        tickvals: [slot].concat(ticks),
        ticktext: ["missing"].concat(ticks.map(function (t) { return String(+t.toPrecision(4)); }))
      };
    }
    var labels = [];
    present.forEach(function (v) {
      var s = typeof v === "string" ? v : JSON.stringify(v);
      if (labels.indexOf(s) < 0) labels.push(s);
    });
    var offset = absent ? 1 : 0;
    return {
      label: esc(short(label)),
      values: values.map(function (v) {
        return missing(v) ? 0 : offset + labels.indexOf(typeof v === "string" ? v : JSON.stringify(v));
      }),
      range: [0, Math.max(1, labels.length - 1 + offset)],
      tickvals: (absent ? [0] : []).concat(labels.map(function (_, i) { return i + offset; })),
      ticktext: (absent ? ["missing"] : []).concat(labels.map(function (l) { return short(l, 16); }))  // plain text: no esc()
    };
  }

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
      return dimension(k, pc.rows.map(function (r) { return r.config[k]; }));
    });
    var scores = pc.rows.map(function (r) { return number(r.summary[metric]); });
    var scoreDim = dimension(metric, scores);
    dims.push(scoreDim);
    // Lines are coloured by the metric; a run without it is grey, not the colour of the lowest.
    var cmin = scoreDim.range ? scoreDim.range[0] : Math.min.apply(null, scoreDim.values);
    var cmax = Math.max.apply(null, scoreDim.values);
    var viridis = ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"];
    var scale = viridis.map(function (c, i) { return [i / (viridis.length - 1), c]; });
    if (scores.some(function (s) { return s === null; }) && cmax > cmin) {
      var cut = (scoreDim.values.filter(function (v, i) { return scores[i] !== null; })
        .reduce(function (a, b) { return Math.min(a, b); }) - cmin) / (cmax - cmin) / 2;
      scale = [[0, "#b8bec9"], [cut, "#b8bec9"]].concat(viridis.map(function (c, i) {
        return [cut + 1e-6 + (1 - cut - 1e-6) * i / (viridis.length - 1), c];
      }));
    }
    target.style.minWidth = Math.max(320, 110 * dims.length) + "px";
    window.Plotly.react(target, [{
      type: "parcoords",
      line: { color: scoreDim.values, colorscale: scale, cmin: cmin, cmax: cmax, showscale: false },
      labelfont: { size: 12 },
      tickfont: { size: 11 },
      dimensions: dims
    }], { font: font, height: 320, margin: { l: 100, r: 70, t: 50, b: 24 }, paper_bgcolor: "rgba(0,0,0,0)" }, config);
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

  if (systemBox) systemBox.addEventListener("toggle", function () { if (lastData) render(lastData); });
  loadSettings();
  showSettings();
  wireControls();
  poll();
})();
