// Sort a leaderboard by any column: click a header (again to reverse). Cells carry the number
// they show in data-sort; cells without one (—) stay last. Reference rows are not sorted.
(function () {
  "use strict";
  function missing(cell) {
    return !cell.hasAttribute("data-sort");
  }
  function compare(a, b, ascending) {
    if (missing(a) || missing(b)) {
      return missing(a) - missing(b);
    }
    var x = a.getAttribute("data-sort"), y = b.getAttribute("data-sort");
    var nx = Number(x), ny = Number(y);
    var r = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
    return ascending ? r : -r;
  }
  document.querySelectorAll("table.board").forEach(function (table) {
    var body = table.querySelector("tbody.ranked");
    var headers = table.querySelectorAll("thead th");
    headers.forEach(function (th, index) {
      th.addEventListener("click", function () {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        headers.forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          return compare(a.cells[index], b.cells[index], ascending);
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });
})();
