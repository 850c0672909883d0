/* modelbay table viewer: pages of a W&B table sorted, filtered and paged on the server.
   Every cell is written as text (textContent), so a cell that looks like HTML stays text;
   image cells become lazy-loaded <img> from the version's image route. */
(function () {
  "use strict";

  var PAGE = 25;

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function cellText(value) {
    if (value === null || value === undefined) return "";
    if (typeof value === "number") {
      return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(6)));
    }
    if (typeof value === "string") return value;
    return JSON.stringify(value);
  }

  function cellNode(value) {
    var td = el("td");
    if (value && typeof value === "object" && value._type === "image-file" && value.url) {
      var img = el("img", { src: value.url, loading: "lazy", alt: value.caption || value.path || "image", "class": "cell-image" });
      if (value.width && value.height) { img.width = Math.min(value.width, 96); img.height = Math.round(img.width * value.height / value.width); }
      td.appendChild(img);
      if (value.caption) td.appendChild(el("div", { "class": "small muted" }, value.caption));
      return td;
    }
    if (typeof value === "number") td.className = "num";
    td.textContent = cellText(value);
    return td;
  }

  function Viewer(root) {
    this.root = root;
    this.src = root.getAttribute("data-table-src");
    this.state = { sort: null, descending: false, filter: "", offset: 0 };
    this.build();
    this.load();
  }

  Viewer.prototype.build = function () {
    var self = this;
    var bar = el("form", { "class": "table-toolbar", role: "search" });
    this.filterInput = el("input", { type: "search", name: "filter", placeholder: "Filter: label = cat, score >= 0.5, caption ~ dog", "aria-label": "Filter rows", "class": "table-filter" });
    var apply = el("button", { type: "submit", "class": "btn secondary sm" }, "Filter");
    bar.appendChild(this.filterInput);
    bar.appendChild(apply);
    bar.addEventListener("submit", function (ev) {
      ev.preventDefault();
      self.state.filter = self.filterInput.value;
      self.state.offset = 0;
      self.load();
    });
    this.message = el("div", { "class": "table-message small", role: "status" });
    var wrap = el("div", { "class": "table-wrap" });
    this.table = el("table", { "class": "table data-table" });
    this.head = el("thead");
    this.body = el("tbody");
    this.table.appendChild(this.head);
    this.table.appendChild(this.body);
    wrap.appendChild(this.table);
    var pager = el("div", { "class": "pager table-pager" });
    this.prev = el("button", { type: "button", "class": "btn secondary sm", "data-page": "prev" }, "← Previous");
    this.next = el("button", { type: "button", "class": "btn secondary sm", "data-page": "next" }, "Next →");
    this.range = el("span", { "class": "table-range" });
    this.prev.addEventListener("click", function () { self.state.offset = Math.max(0, self.state.offset - PAGE); self.load(); });
    this.next.addEventListener("click", function () { self.state.offset += PAGE; self.load(); });
    pager.appendChild(this.prev);
    pager.appendChild(this.range);
    pager.appendChild(this.next);
    this.root.appendChild(bar);
    this.root.appendChild(this.message);
    this.root.appendChild(wrap);
    this.root.appendChild(pager);
  };

  Viewer.prototype.url = function () {
    var q = new URLSearchParams();
    q.set("offset", String(this.state.offset));
    q.set("limit", String(PAGE));
    if (this.state.sort !== null) { q.set("sort", this.state.sort); q.set("descending", this.state.descending ? "true" : "false"); }
    if (this.state.filter) q.set("filter", this.state.filter);
    return this.src + (this.src.indexOf("?") >= 0 ? "&" : "?") + q.toString();
  };

  Viewer.prototype.load = function () {
    var self = this;
    var seq = (this.seq = (this.seq || 0) + 1);
    this.root.setAttribute("aria-busy", "true");
    fetch(this.url(), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (resp) {
        return resp.json().then(function (body) { return { ok: resp.ok, body: body }; });
      })
      .then(function (r) {
        if (seq !== self.seq) return;
        self.root.removeAttribute("aria-busy");
        if (!r.ok) {
          self.message.textContent = (r.body && r.body.error && r.body.error.message) || "The table could not be read.";
          self.message.className = "table-message small error";
          return;
        }
        self.message.textContent = "";
        self.message.className = "table-message small";
        self.render(r.body);
      })
      .catch(function () {
        if (seq === self.seq) self.message.textContent = "The table could not be loaded.";
      });
  };

  Viewer.prototype.render = function (page) {
    var self = this;
    var head = el("tr");
    head.appendChild(el("th", { "class": "num muted" }, "#"));
    page.columns.forEach(function (name, i) {
      var th = el("th", { "data-column": name, title: page.types[i] });
      var button = el("button", { type: "button", "class": "sort-button" }, name);
      var sorted = self.state.sort === name;
      th.setAttribute("aria-sort", sorted ? (self.state.descending ? "descending" : "ascending") : "none");
      if (sorted) button.appendChild(el("span", { "aria-hidden": "true" }, self.state.descending ? " ↓" : " ↑"));
      button.addEventListener("click", function () {
        if (self.state.sort === name) self.state.descending = !self.state.descending;
        else { self.state.sort = name; self.state.descending = false; }
        self.state.offset = 0;
        self.load();
      });
      th.appendChild(button);
      head.appendChild(th);
    });
    this.head.replaceChildren(head);
    var rows = page.rows.map(function (cells, r) {
      var tr = el("tr", { "data-row": String(page.indices[r]) });
      tr.appendChild(el("td", { "class": "num muted" }, page.indices[r]));
      cells.forEach(function (cell) { tr.appendChild(cellNode(cell)); });
      return tr;
    });
    if (!rows.length) {
      var empty = el("tr");
      empty.appendChild(el("td", { colspan: String(page.columns.length + 1), "class": "empty" }, "No rows match."));
      rows = [empty];
    }
    this.body.replaceChildren.apply(this.body, rows);
    var first = page.total ? page.offset + 1 : 0;
    var last = page.offset + page.rows.length;
    this.range.textContent = "Rows " + first + "–" + last + " of " + page.total + (page.total !== page.count ? " (filtered from " + page.count + ")" : "");
    this.prev.disabled = page.offset <= 0;
    this.next.disabled = last >= page.total;
  };

  function start(root) {
    if (!root.__viewer) root.__viewer = new Viewer(root);
  }

  // A run's logged tables: listed by the server, then each gets a viewer (and a choice of
  // step when the run logged it at several).
  function runTables(section) {
    fetch(section.getAttribute("data-run-tables"), { credentials: "same-origin" })
      .then(function (resp) { return resp.ok ? resp.json() : { tables: [] }; })
      .then(function (body) {
        var holder = section.querySelector("[data-run-tables-body]");
        if (!body.tables.length) { holder.appendChild(el("p", { "class": "empty", style: "padding:0 18px" }, "No tables logged.")); return; }
        body.tables.forEach(function (t) {
          var box = el("div", { "class": "run-table", "data-table-key": t.key });
          var title = el("h3", { "class": "mono small" }, t.key);
          box.appendChild(title);
          var base = "/-/data/run-table?" + new URLSearchParams({ project: section.getAttribute("data-project"), run: section.getAttribute("data-run"), key: t.key }).toString();
          var view = el("div", { "class": "tableview", "data-table-src": base });
          if (t.steps && t.steps.length > 1) {
            var pick = el("select", { "aria-label": "Step of " + t.key, "class": "step-select" });
            t.steps.slice().reverse().forEach(function (step, i) {
              pick.appendChild(el("option", { value: String(step) }, "step " + step + (i === 0 ? " (latest)" : "")));
            });
            pick.addEventListener("change", function () {
              view.__viewer.src = base + "&step=" + encodeURIComponent(pick.value);
              view.__viewer.state.offset = 0;
              view.__viewer.load();
            });
            title.appendChild(document.createTextNode(" "));
            title.appendChild(pick);
          }
          box.appendChild(view);
          holder.appendChild(box);
          start(view);
        });
      });
  }

  // Histograms over steps (W&B's {"_type": "histogram", "values", "bins"} per step): one
  // heatmap each, step across, value up. The key is a heading written as text; Plotly gets
  // no text from the data (its labels render HTML).
  function runHistograms(section) {
    if (!window.Plotly) return;
    fetch(section.getAttribute("data-run-histograms"), { credentials: "same-origin" })
      .then(function (resp) { return resp.ok ? resp.json() : { histograms: {} }; })
      .then(function (body) {
        var keys = Object.keys(body.histograms);
        if (!keys.length) return;
        section.hidden = false;
        var holder = section.querySelector("[data-histograms-body]");
        keys.forEach(function (key) {
          var h = body.histograms[key];
          var box = el("div", { "class": "histogram", "data-histogram": key });
          box.appendChild(el("h3", { "class": "mono small" }, key));
          var plot = el("div", { "class": "histogram-plot" });
          box.appendChild(plot);
          holder.appendChild(box);
          window.Plotly.newPlot(plot, [{
            type: "heatmap", x: h.steps, y: h.y, z: h.z, colorscale: "Blues", reversescale: true,
            showscale: false, hovertemplate: "step %{x}<br>value %{y:.4g}<br>count %{z}<extra></extra>"
          }], {
            margin: { l: 48, r: 8, t: 8, b: 36 }, height: 220,
            xaxis: { title: { text: "step" } }, yaxis: { title: { text: "value" } }
          }, { displayModeBar: false, responsive: true });
        });
      });
  }

  document.querySelectorAll("[data-table-src]").forEach(start);
  document.querySelectorAll("[data-run-tables]").forEach(runTables);
  document.querySelectorAll("[data-run-histograms]").forEach(runHistograms);
})();
