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
  // Enter in a text field: the field's own button (data-enter-clicks, e.g. « Ajouter le médicament ») or the
  // form's main button (data-default-button), not the first submit button of the form (a « Retirer »).
  document.addEventListener("keydown", function (event) {
    var field = event.target;
    if (event.key !== "Enter" || event.defaultPrevented || !field || field.tagName !== "INPUT") { return; }
    if (field.type === "checkbox" || field.type === "radio" || field.type === "submit") { return; }
    var id = field.getAttribute("data-enter-clicks") ||
      (field.form ? field.form.getAttribute("data-default-button") : null);
    var button = id ? document.getElementById(id) : null;
    if (!button) { return; }
    event.preventDefault();
    button.click();
  });
  // Focus the error summary of a refused form, so keyboard and screen-reader users land on it.
  document.addEventListener("DOMContentLoaded", function () {
    var summary = document.querySelector(".error-summary");
    if (summary) { summary.focus(); }
  });
})();
