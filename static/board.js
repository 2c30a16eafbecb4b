// The triage and WIP boards, enhanced: a keyboard walk over the tickets
// (j/k move, t take, a assign, Enter open) and a refresh every minute that
// keeps the scroll position and the current row. Without this file the
// pages work as plain links and forms.
(function () {
  "use strict";
  var board = document.querySelector("[data-refresh]");
  if (!board) return;
  var current = null; // data-id of the current row

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("tr.ticket"));
  }

  function mark(row) {
    rows().forEach(function (r) { r.classList.toggle("current", r === row); });
    if (!row) return;
    current = row.getAttribute("data-id");
    var link = row.querySelector("td.num a");
    if (link) link.focus({ preventScroll: true });
    row.scrollIntoView({ block: "nearest" });
  }

  function step(by) {
    var all = rows();
    if (!all.length) return;
    var at = all.findIndex(function (r) { return r.getAttribute("data-id") === current; });
    var next = at < 0 ? 0 : Math.max(0, Math.min(all.length - 1, at + by));
    mark(all[next]);
  }

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.target.closest && e.target.closest("input, select, textarea")) return;
    var row = document.querySelector("tr.ticket.current");
    if (e.key === "j") step(1);
    else if (e.key === "k") step(-1);
    else if (e.key === "t" && row && row.querySelector("button.take")) row.querySelector("button.take").click();
    else if (e.key === "a" && row && row.querySelector("select")) row.querySelector("select").focus();
    else return;
    e.preventDefault();
  });

  var seconds = parseInt(board.getAttribute("data-refresh"), 10) || 60;
  setInterval(function () {
    var busy = document.activeElement && document.activeElement.closest &&
      document.activeElement.closest("select, input, textarea");
    if (busy || document.hidden) return;
    fetch(location.href, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("[data-refresh]");
        if (!fresh) return;
        var y = window.scrollY;
        board.replaceWith(fresh);
        board = fresh;
        window.scrollTo(0, y);
        var again = current && document.querySelector('tr.ticket[data-id="' + current + '"]');
        if (again) again.classList.add("current");
      })
      .catch(function () {});
  }, seconds * 1000);
})();
