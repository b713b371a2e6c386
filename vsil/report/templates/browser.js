/* vsil sample browser: filter, search, sort, page and open every row of a report.
   The rows come from the page's JSON data block (the element with id "vsil-data").
   Dataset text reaches the page only through textContent: never as HTML. */
(function () {
  "use strict";
  var root = document.getElementById("vb");
  var block = document.getElementById("vsil-data");
  if (!root || !block) { return; }
  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  var D;
  try { D = JSON.parse(block.textContent); } catch (err) {
    $("vb-count").textContent = "The sample data of this page could not be read.";
    return;
  }
  var data = D.data, values = D.values, cols = D.columns, byKey = {};
  cols.forEach(function (c) { byKey[c.key] = c; });
  var n = cols.length ? data[cols[0].key].length : 0;
  var tableCols = cols.filter(function (c) { return c.table; });
  var fmt = function (k) { return k.toLocaleString("en-US"); };
  var state = { q: "", filters: {}, sort: D.default_sort || "", desc: true, page: 0,
                size: 50, open: -1 };
  var rows = [], hay = null;

  function label(c, i) {
    var v = values[c.key][data[c.key][i]];
    return v === "" ? "–" : v;
  }
  function isImage(u) { return typeof u === "string" && /^data:image\/(jpeg|png);base64,[A-Za-z0-9+\/=]+$/.test(u); }
  function fill(td, c, i, short) {
    var v = data[c.key][i];
    if (c.kind === "image") {
      if (isImage(v)) { var im = el("img", "vb-thumb"); im.alt = "image"; im.src = v; td.append(im); }
      return;
    }
    if (c.kind === "num") {
      td.classList.add("num");
      td.textContent = v === null ? "–" : v.toFixed(short ? Math.min(3, c.digits) : c.digits);
      return;
    }
    if (c.kind === "cat") {
      var s = label(c, i);
      td.textContent = s;
      if (c.hot.indexOf(s) >= 0) { td.classList.add("hot"); }
      return;
    }
    if (!short && v === "") { td.textContent = "–"; return; }
    td.textContent = short && c.clip && v.length > c.clip ? v.slice(0, c.clip) + "…" : v;
  }

  function haystack() {
    if (hay) { return hay; }
    var keys = D.search;
    hay = new Array(n);
    for (var i = 0; i < n; i++) {
      var parts = [];
      for (var k = 0; k < keys.length; k++) {
        var c = byKey[keys[k]];
        parts.push(c.kind === "cat" ? values[c.key][data[c.key][i]] : data[c.key][i]);
      }
      hay[i] = parts.join("\n").toLowerCase();
    }
    return hay;
  }
  function select() {
    var words = state.q.toLowerCase().split(/\s+/).filter(Boolean);
    var active = D.filters.filter(function (k) { return state.filters[k] >= 0; });
    var h = words.length ? haystack() : null, out = [];
    for (var i = 0; i < n; i++) {
      var ok = true, j;
      for (j = 0; ok && j < active.length; j++) { ok = data[active[j]][i] === state.filters[active[j]]; }
      for (j = 0; ok && h && j < words.length; j++) { ok = h[i].indexOf(words[j]) >= 0; }
      if (ok) { out.push(i); }
    }
    if (state.sort) {
      var v = data[state.sort], s = state.desc ? -1 : 1;
      out.sort(function (a, b) {
        var x = v[a], y = v[b];
        if (x === y) { return a - b; }
        if (x === null) { return 1; }
        if (y === null) { return -1; }
        return x < y ? -s : s;
      });
    }
    rows = out;
  }

  var body = $("vb-body");
  function render() {
    var pages = Math.max(1, Math.ceil(rows.length / state.size));
    state.page = Math.min(state.page, pages - 1);
    var start = state.page * state.size, slice = rows.slice(start, start + state.size);
    body.replaceChildren();
    slice.forEach(function (i) {
      var tr = el("tr");
      tr.tabIndex = 0;
      tr.dataset.row = String(i);
      if (i === state.open) { tr.classList.add("sel"); }
      tableCols.forEach(function (c) { var td = el("td"); fill(td, c, i, true); tr.append(td); });
      body.append(tr);
    });
    var shown = rows.length ? (start + 1) + "–" + (start + slice.length) : "0";
    var text = shown + " of " + fmt(rows.length) + " matching " + D.noun;
    if (rows.length !== n) { text += " (" + fmt(n) + " in all)"; }
    $("vb-count").textContent = text;
    $("vb-page").textContent = "page " + (state.page + 1) + " of " + pages;
    $("vb-first").disabled = $("vb-prev").disabled = state.page === 0;
    $("vb-next").disabled = $("vb-last").disabled = state.page >= pages - 1;
  }
  function update() { select(); state.page = 0; render(); }

  function show(i) {
    state.open = i;
    var dl = $("vb-fields"), img = $("vb-img");
    dl.replaceChildren();
    img.hidden = true;
    cols.forEach(function (c) {
      if (c.kind === "image") {
        if (isImage(data[c.key][i])) { img.src = data[c.key][i]; img.hidden = false; }
        return;
      }
      var dd = el("dd");
      fill(dd, c, i, false);
      dl.append(el("dt", "", c.label), dd);
    });
    var pos = rows.indexOf(i);
    $("vb-title").textContent = byKey.id ? "sample " + data.id[i] : "row " + (i + 1);
    $("vb-where").textContent = pos >= 0 ? fmt(pos + 1) + " of " + fmt(rows.length) : "";
    $("vb-detail").hidden = false;
    Array.prototype.forEach.call(body.children, function (tr) {
      tr.classList.toggle("sel", tr.dataset.row === String(i));
    });
  }
  function step(d) {
    var pos = rows.indexOf(state.open) + d;
    if (pos < 0 || pos >= rows.length) { return; }
    state.page = Math.floor(pos / state.size);
    render();
    show(rows[pos]);
  }
  function close() { state.open = -1; $("vb-detail").hidden = true; render(); }

  // controls
  var filters = $("vb-filters");
  D.filters.forEach(function (key) {
    var c = byKey[key], counts = values[key].map(function () { return 0; });
    data[key].forEach(function (code) { counts[code] += 1; });
    var sel = el("select");
    sel.dataset.key = key;
    sel.append(el("option", "", "any"));
    sel.options[0].value = "";
    values[key].forEach(function (v, code) {
      var o = el("option", "", (v === "" ? "(none)" : v) + " (" + fmt(counts[code]) + ")");
      o.value = String(code);
      sel.append(o);
    });
    sel.addEventListener("change", function () {
      state.filters[key] = sel.value === "" ? -1 : Number(sel.value);
      update();
    });
    var lab = el("label", "vb-f", c.label + " ");
    lab.append(sel);
    filters.append(lab);
  });
  var sort = $("vb-sort");
  sort.append(el("option", "", "dataset order"));
  sort.options[0].value = "";
  D.sorts.forEach(function (k) { var o = el("option", "", byKey[k].label); o.value = k; sort.append(o); });
  sort.value = state.sort;
  var dir = $("vb-dir");
  function dirText() {
    dir.textContent = state.desc ? "high → low" : "low → high";
    dir.disabled = !state.sort;
  }
  dirText();
  sort.addEventListener("change", function () { state.sort = sort.value; dirText(); update(); });
  dir.addEventListener("click", function () { state.desc = !state.desc; dirText(); update(); });
  var q = $("vb-q"), timer = 0;
  q.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () { state.q = q.value; update(); }, 150);
  });
  $("vb-reset").addEventListener("click", function () {
    q.value = ""; state.q = ""; state.filters = {};
    Array.prototype.forEach.call(filters.querySelectorAll("select"), function (s) { s.value = ""; });
    update();
  });
  var size = $("vb-size");
  size.addEventListener("change", function () { state.size = Number(size.value) || 50; update(); });
  $("vb-first").addEventListener("click", function () { state.page = 0; render(); });
  $("vb-prev").addEventListener("click", function () { state.page -= 1; render(); });
  $("vb-next").addEventListener("click", function () { state.page += 1; render(); });
  $("vb-last").addEventListener("click", function () { state.page = 1e9; render(); });
  function rowOf(e) { var tr = e.target.closest("tr"); return tr && tr.dataset.row ? Number(tr.dataset.row) : -1; }
  body.addEventListener("click", function (e) { var i = rowOf(e); if (i >= 0) { show(i); } });
  body.addEventListener("keydown", function (e) {
    var i = rowOf(e);
    if (e.key === "Enter" && i >= 0) { show(i); }
  });
  $("vb-close").addEventListener("click", close);
  $("vb-up").addEventListener("click", function () { step(-1); });
  $("vb-down").addEventListener("click", function () { step(1); });
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && !$("vb-detail").hidden) { close(); }
  });
  var head = $("vb-head");
  tableCols.forEach(function (c) { head.append(el("th", c.kind === "num" ? "num" : "", c.label)); });

  select();
  render();
  root.hidden = false;
  root.dataset.ready = String(Math.round(performance.now()));
})();
