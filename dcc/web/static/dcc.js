// dcc pages: small progressive enhancements (no inline script: the CSP is default-src 'self').
(function () {
  "use strict";
  // "Tout sélectionner" checkboxes: <input class="select-all" data-target="NAME">
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.classList || !box.classList.contains("select-all")) { return; }
    var form = box.form || document;
    var name = box.getAttribute("data-target");
    form.querySelectorAll('input[type="checkbox"][name="' + name + '"]').forEach(function (other) {
      other.checked = box.checked;
    });
  });
  // Focus the error summary of a refused form, so keyboard and screen-reader users land on it.
  document.addEventListener("DOMContentLoaded", function () {
    var summary = document.querySelector(".error-summary");
    if (summary) { summary.focus(); }
  });
})();
