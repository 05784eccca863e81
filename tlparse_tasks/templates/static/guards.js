/* Guard pages: filter the guard table by code as you type.
 *
 * The table is complete static HTML; this script only shows the (hidden) filter box and hides
 * rows whose code does not contain the text typed (case-insensitive). It reads text, never
 * writes markup.
 */
(function () {
  "use strict";

  function setup() {
    var input = document.getElementById("tlp-guard-filter");
    var table = document.getElementById("tlp-guards");
    if (!input || !table || !table.tBodies.length) return;
    var rows = Array.prototype.slice.call(table.tBodies[0].rows);
    var texts = rows.map(function (row) {
      var code = row.querySelector(".tlp-guard-code");
      return (code ? code.textContent : row.textContent).toLowerCase();
    });
    var count = document.getElementById("tlp-guard-count");
    var none = document.getElementById("tlp-guards-none");
    var box = input.closest(".tlp-guard-filter");

    function guards(n) {
      return n + (n === 1 ? " guard" : " guards");
    }

    function apply() {
      var needle = input.value.trim().toLowerCase();
      var shown = 0;
      rows.forEach(function (row, i) {
        var match = needle === "" || texts[i].indexOf(needle) !== -1;
        row.hidden = !match;
        if (match) shown += 1;
      });
      if (count) {
        count.textContent = needle === "" ? guards(rows.length) : shown + " of " + guards(rows.length);
      }
      if (none) none.hidden = shown !== 0;
    }

    input.addEventListener("input", apply);
    if (box) box.hidden = false;
    apply(); // a value the browser restored (back/forward) applies at once
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setup);
  } else {
    setup();
  }
})();
