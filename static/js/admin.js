// recsite's admin: name the select2 boxes of autocomplete fields after their (hidden) labels.
// select2 names its combobox by the chosen value alone, so an empty one has no name at all.
(function () {
  "use strict";

  function nameSelect2(root) {
    root.querySelectorAll(".select2-selection[role=combobox]").forEach(function (box) {
      var container = box.closest(".select2-container");
      var select = container && container.previousElementSibling;
      var label = select && select.id && document.querySelector('label[for="' + select.id + '"]');
      if (!label) return;
      if (!label.id) label.id = select.id + "-label";
      var rendered = box.querySelector(".select2-selection__rendered");
      box.setAttribute("aria-labelledby", label.id + (rendered ? " " + rendered.id : ""));
      if (rendered) rendered.setAttribute("aria-labelledby", label.id);
    });
  }

  if (!window.django || !django.jQuery) return;  // pages without form media
  // After autocomplete.js: its ready handler and formset:added listener were added first.
  django.jQuery(function () { nameSelect2(document); });
  document.addEventListener("formset:added", function (event) { nameSelect2(event.target); });
})();
