/* provenance.js: links the panes of an inductor provenance page (provenance_tracking_*.html).
 *
 * The page arrives complete as text: each pane is a <pre data-prov-pane="pre|post|py|cpp"> of
 * numbered line spans with ids `<pane>-L<n>`. The node mappings, as line numbers, are the JSON of
 * <script id="lineMappings">; a pane's `data-line-offset` turns a number of the mappings into the
 * line shown (legacy counts Python code from its `# AOT ID:` line, C++ without leading blank lines).
 *
 * Clicking a line that has a mapping selects it: its counterparts in the other panes are
 * highlighted and scrolled into view, and `#<pane>-L<n>` in the address selects a line on load.
 * Marks are CSS rules on the line ids, not classes, so highlight.js may repaint the lines at any
 * time without losing them. No network, no dependencies.
 */
(function () {
  "use strict";

  var PANES = ["pre", "post", "py", "cpp"];
  var NAMES = { pre: "pre-grad graph", post: "post-grad graph", py: "Python code", cpp: "C++ code" };
  var EMPTY = {};

  function readMappings() {
    var script = document.getElementById("lineMappings");
    if (!script) return EMPTY;
    try {
      var data = JSON.parse(script.textContent);
      return data && typeof data === "object" ? data : EMPTY;
    } catch (e) {
      return EMPTY;
    }
  }

  var M = readMappings();
  var offsets = {};  // pane → offset; only panes on the page
  var blocks = {};

  function table(name) {
    var t = M[name];
    return t && typeof t === "object" ? t : EMPTY;
  }

  function linesOf(name, key) {
    var v = table(name)[String(key)];
    return Array.isArray(v) ? v : [];
  }

  /* The union of `name[key]` over keys, in first-seen order. */
  function through(name, keys) {
    var seen = {}, out = [];
    keys.forEach(function (k) {
      linesOf(name, k).forEach(function (n) {
        if (!seen[n]) { seen[n] = true; out.push(n); }
      });
    });
    return out;
  }

  /* The lines (numbers of the mappings) linked to line n of a pane, per pane. */
  function counterparts(pane, n) {
    var post;
    if (pane === "pre") {
      post = linesOf("preToPost", n);
      return { post: post, py: through("postToPyCode", post), cpp: through("postToCppCode", post) };
    }
    if (pane === "post") {
      return { pre: linesOf("postToPre", n), py: linesOf("postToPyCode", n), cpp: linesOf("postToCppCode", n) };
    }
    post = linesOf(pane === "py" ? "pyCodeToPost" : "cppCodeToPost", n);
    var other = pane === "py" ? "cpp" : "py";
    var result = { post: post, pre: through("postToPre", post) };
    result[other] = through(other === "py" ? "postToPyCode" : "postToCppCode", post);
    return result;
  }

  /* Lines of each pane that have a mapping (numbers of the mappings). */
  function mappedLines() {
    function keys(name) { return Object.keys(table(name)); }
    return {
      pre: keys("preToPost"),
      post: keys("postToPre").concat(keys("postToPyCode"), keys("postToCppCode")),
      py: keys("pyCodeToPost"),
      cpp: keys("cppCodeToPost")
    };
  }

  function lineId(pane, n) { return pane + "-L" + (Number(n) + offsets[pane]); }

  function selectors(pane, numbers) {
    return numbers.map(function (n) { return "#" + lineId(pane, n); });
  }

  function styleSheet(id) {
    var style = document.createElement("style");
    style.id = id;
    document.head.appendChild(style);
    return style;
  }

  var selectionStyle = null;
  var status = null;

  function rule(list, body) {
    return list.length ? list.join(",\n") + " { " + body + " }\n" : "";
  }

  function scrollWithin(pre, el) {
    var container = pre.closest(".tlp-prov-scroll") || pre;
    var box = container.getBoundingClientRect(), at = el.getBoundingClientRect();
    container.scrollTop += at.top - box.top - container.clientHeight / 3;
  }

  /* Select line n (a number of the mappings) of a pane: mark it and its counterparts. */
  function select(pane, n, scrollSelf) {
    var found = counterparts(pane, n);
    var others = [], summary = [];
    PANES.forEach(function (p) {
      if (p === pane || !(p in offsets) || !found[p]) return;
      var lines = found[p].filter(function (m) { return document.getElementById(lineId(p, m)); });
      if (!lines.length) return;
      others = others.concat(selectors(p, lines));
      summary.push(lines.length + " " + NAMES[p] + " line" + (lines.length === 1 ? "" : "s"));
      scrollWithin(blocks[p], document.getElementById(lineId(p, lines[0])));
    });
    var self = "#" + lineId(pane, n);
    selectionStyle.textContent = rule([self], "background: #ffd33d66; outline: 1px solid #bf8700;") +
      rule(others, "background: #ffd33d99;");
    if (scrollSelf && document.getElementById(lineId(pane, n))) {
      scrollWithin(blocks[pane], document.getElementById(lineId(pane, n)));
    }
    document.body.setAttribute("data-prov-selected", lineId(pane, n));
    if (status) {
      status.textContent = "Line " + (Number(n) + offsets[pane]) + " of the " + NAMES[pane] + ": " +
        (summary.length ? summary.join(", ") : "no mapped lines elsewhere") + ".";
    }
  }

  function onClick(pane, event) {
    var selection = window.getSelection && window.getSelection();
    if (selection && !selection.isCollapsed) return;  // the reader is selecting text
    var line = event.target.closest ? event.target.closest(".tlp-line") : null;
    if (!line || !line.id) return;
    var shown = Number(line.id.slice(pane.length + 2));
    select(pane, shown - offsets[pane], false);
  }

  function fromHash() {
    var m = /^#(pre|post|py|cpp)-L(\d+)$/.exec(window.location.hash);
    if (m && m[1] in offsets) select(m[1], Number(m[2]) - offsets[m[1]], true);
  }

  function start() {
    var pres = document.querySelectorAll("pre[data-prov-pane]");
    for (var i = 0; i < pres.length; i++) {
      var pane = pres[i].getAttribute("data-prov-pane");
      if (PANES.indexOf(pane) < 0) continue;
      offsets[pane] = Number(pres[i].getAttribute("data-line-offset")) || 0;
      blocks[pane] = pres[i];
      pres[i].addEventListener("click", onClick.bind(null, pane));
    }
    var mapped = mappedLines(), marks = [];
    Object.keys(offsets).forEach(function (p) { marks = marks.concat(selectors(p, mapped[p])); });
    styleSheet("tlp-prov-marks").textContent = rule(marks, "cursor: pointer; box-shadow: inset 3px 0 0 #54aeff;");
    selectionStyle = styleSheet("tlp-prov-selection");
    status = document.getElementById("tlp-prov-status");
    Object.keys(blocks).forEach(function (p) {  // C++: open at run_impl, as legacy does
      var at = Number(blocks[p].getAttribute("data-scroll-line"));
      var el = at ? document.getElementById(p + "-L" + at) : null;
      if (el && !window.location.hash) scrollWithin(blocks[p], el);
    });
    fromHash();
    window.addEventListener("hashchange", fromHash);
    document.body.setAttribute("data-prov-ready", "1");
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
