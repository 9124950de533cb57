// Progressive enhancement for the staff dashboard; every task works without it.
(function () {
  "use strict";
  // "Select all on this page" for the org list.
  var all = document.getElementById("select-all");
  if (all) {
    all.addEventListener("change", function () {
      document.querySelectorAll("input.pick").forEach(function (b) { b.checked = all.checked; });
    });
  }
  // Ask before destructive single actions (revoking a connection).
  document.querySelectorAll("form.confirm").forEach(function (f) {
    f.addEventListener("submit", function (e) {
      if (!window.confirm(f.getAttribute("data-confirm") || "Are you sure?")) { e.preventDefault(); }
    });
  });
})();
