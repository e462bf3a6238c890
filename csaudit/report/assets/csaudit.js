/* csaudit report pages: draw the figures, filter and sort long tables, open the target of a link.
   Our own small script, loaded from the report folder (no CDN, no inline script). */
(function () {
  "use strict";

  function drawFigures() {
    if (typeof Plotly === "undefined") { return; }
    document.querySelectorAll("script.csa-fig-data").forEach(function (s) {
      var div = document.getElementById(s.getAttribute("data-for"));
      if (!div || div.getAttribute("data-drawn")) { return; }
      var spec = JSON.parse(s.textContent);
      div.setAttribute("data-drawn", "1");
      Plotly.newPlot(div, spec.data, spec.layout, spec.config);
    });
  }

  function cellKey(td) {
    var t = (td ? td.textContent : "").trim();
    var n = parseFloat(t.replace(/[¥,%\s秒s]/g, "").replace("−", "-"));
    return isNaN(n) || !/^[-−+¥\d.,\s%秒s]+$/.test(t) ? { n: null, t: t } : { n: n, t: t };
  }

  function makeSortable(table) {
    var heads = table.querySelectorAll("thead th");
    heads.forEach(function (th, i) {
      th.title = th.title || "sort";
      th.addEventListener("click", function () {
        var asc = !th.classList.contains("sort-asc");
        heads.forEach(function (h) { h.classList.remove("sort-asc", "sort-desc"); });
        th.classList.add(asc ? "sort-asc" : "sort-desc");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = cellKey(a.cells[i]), y = cellKey(b.cells[i]);
          var c = (x.n !== null && y.n !== null) ? x.n - y.n
            : (x.n !== null) ? -1 : (y.n !== null) ? 1 : x.t.localeCompare(y.t, "zh");  // numbers before text
          return asc ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  }

  function makeFilter(table) {
    var input = document.createElement("input");
    input.type = "search";
    input.className = "csa-filter";
    input.placeholder = document.documentElement.lang === "en" ? "filter…" : "筛选…";
    input.addEventListener("input", function () {
      var q = input.value.trim().toLowerCase();
      Array.prototype.forEach.call(table.tBodies[0].rows, function (r) {
        r.hidden = q !== "" && r.textContent.toLowerCase().indexOf(q) < 0;
      });
    });
    table.parentNode.insertBefore(input, table);
  }

  function openTarget() {
    var id = decodeURIComponent(location.hash.slice(1));
    var el = id && document.getElementById(id);
    for (var p = el; p; p = p.parentElement) {
      if (p.tagName === "DETAILS") { p.open = true; }
    }
    if (el) { el.scrollIntoView(); }
  }

  function liftContents() {
    // the contents bar sits inside its notebook cell's output; sticky positioning needs it at page level
    var toc = document.getElementById("toc");
    if (!toc) { return; }
    var top = toc;
    while (top.parentElement && top.parentElement !== document.body) { top = top.parentElement; }
    if (top !== toc) { document.body.insertBefore(toc, top.nextSibling); }
  }

  function init() {
    liftContents();
    drawFigures();
    document.querySelectorAll("table.csa-table").forEach(makeSortable);
    document.querySelectorAll("table.csa-table[data-filter]").forEach(makeFilter);
    window.addEventListener("hashchange", openTarget);
    if (location.hash) { openTarget(); }
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
