// Sorting for tables marked `data-tlp-sortable` (the compile-times table). Progressive
// enhancement: the table is complete and ordered without this script. A header with a
// `data-sort` type ("number" or "text") becomes a button; each cell's `data-sort-value` is the
// key (blank cells stay last). The first click sorts numbers longest first and text A to Z, the
// next click reverses; `aria-sort` on the header tells which.
(function () {
  "use strict";

  function keyOf(row, column, numeric) {
    var cell = row.cells[column];
    var raw = cell ? cell.getAttribute("data-sort-value") : null;
    if (raw === null) raw = cell ? cell.textContent.trim() : "";
    if (raw === "") return null;
    if (!numeric) return raw;
    var number = parseFloat(raw);
    return isNaN(number) ? null : number;
  }

  function compare(a, b, descending) {
    if (a.key === null || b.key === null) {
      if (a.key === b.key) return a.index - b.index;
      return a.key === null ? 1 : -1;
    }
    var order = a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
    if (descending) order = -order;
    return order || a.index - b.index;
  }

  function sortBy(table, header, column) {
    var numeric = header.getAttribute("data-sort") === "number";
    var current = header.getAttribute("aria-sort");
    var descending = current ? current === "ascending" : numeric;
    var body = table.tBodies[0];
    var rows = Array.prototype.map.call(body.rows, function (row, index) {
      return { row: row, index: index, key: keyOf(row, column, numeric) };
    });
    rows.sort(function (a, b) { return compare(a, b, descending); });
    var fragment = document.createDocumentFragment();
    rows.forEach(function (item) { fragment.appendChild(item.row); });
    body.appendChild(fragment);
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (cell) {
      cell.removeAttribute("aria-sort");
    });
    header.setAttribute("aria-sort", descending ? "descending" : "ascending");
  }

  function enhance(table) {
    if (!table.tHead || !table.tBodies.length) return;
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (header, column) {
      if (!header.hasAttribute("data-sort")) return;
      var button = document.createElement("button");
      button.type = "button";
      button.className = "tlp-sort";
      while (header.firstChild) button.appendChild(header.firstChild);
      header.appendChild(button);
      button.addEventListener("click", function () { sortBy(table, header, column); });
    });
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("table[data-tlp-sortable]"), enhance);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
