// Progressive enhancement of the upload form: drag and drop, the chosen file name, a busy state.
// The form works without this script (plain multipart POST to /predict).
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("upload-form");
    var zone = document.getElementById("dropzone");
    var input = document.getElementById("image");
    var selected = document.getElementById("selected-file");
    var button = document.getElementById("analyze");
    if (!form || !zone || !input) {
      return;
    }

    function showSelection() {
      selected.textContent = input.files && input.files.length ? "Selected: " + input.files[0].name : "";
    }

    input.addEventListener("change", showSelection);

    ["dragenter", "dragover"].forEach(function (type) {
      zone.addEventListener(type, function (event) {
        event.preventDefault();
        zone.classList.add("is-dragover");
      });
    });
    ["dragleave", "dragend", "drop"].forEach(function (type) {
      zone.addEventListener(type, function () {
        zone.classList.remove("is-dragover");
      });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      var files = event.dataTransfer && event.dataTransfer.files;
      if (files && files.length) {
        var transfer = new DataTransfer();
        transfer.items.add(files[0]);
        input.files = transfer.files;
        showSelection();
        input.focus();
      }
    });

    form.addEventListener("submit", function () {
      button.disabled = true;
      button.textContent = "Analyzing\u2026";
      form.setAttribute("aria-busy", "true");
    });

    // Re-enable the button when the page is restored from the back/forward cache.
    window.addEventListener("pageshow", function () {
      button.disabled = false;
      button.textContent = "Analyze image";
      form.removeAttribute("aria-busy");
    });
  });
})();
