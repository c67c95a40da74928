// Enrolment pages: small progressive enhancements; every form works without them.
"use strict";

(function () {
  function megabytes(bytes, decimals) {
    return (bytes / 1048576).toFixed(decimals === undefined ? 1 : decimals) + " MiB";
  }

  // A size and its limit, with enough decimals that they never read the same (server.media_policy).
  function overLimit(size, limit) {
    for (var decimals = 1; decimals <= 3; decimals++) {
      if (megabytes(size, decimals) !== megabytes(limit, decimals)) {
        return megabytes(size, decimals) + " selected, more than the " + megabytes(limit, decimals) + " limit";
      }
    }
    return size + " bytes selected, more than the " + limit + " byte limit";
  }

  function selectedFiles(form) {
    var files = [];
    form.querySelectorAll("input[type=file]").forEach(function (input) {
      Array.prototype.forEach.call(input.files || [], function (file) { files.push(file); });
    });
    return files;
  }

  // Upload forms say what is selected, refuse what the server would refuse, and show they are busy.
  document.querySelectorAll("form[data-max-bytes]").forEach(function (form) {
    var summary = form.querySelector("[data-file-summary]");
    var maxBytes = parseInt(form.getAttribute("data-max-bytes"), 10);
    var maxFiles = parseInt(form.getAttribute("data-max-files") || "0", 10);

    function problem() {
      var files = selectedFiles(form);
      var total = files.reduce(function (sum, file) { return sum + file.size; }, 0);
      if (maxFiles && files.length > maxFiles) {
        return files.length + " files selected: send at most " + maxFiles + " at a time.";
      }
      if (total > maxBytes) {
        return overLimit(total, maxBytes) + ": send fewer or smaller files.";
      }
      return "";
    }

    form.addEventListener("change", function () {
      if (!summary) {
        return;
      }
      var files = selectedFiles(form);
      var total = files.reduce(function (sum, file) { return sum + file.size; }, 0);
      var text = problem() || (files.length + " file(s), " + megabytes(total) + " selected.");
      summary.textContent = text;
      summary.classList.toggle("field-error", Boolean(problem()));
    });

    form.addEventListener("submit", function (event) {
      var message = problem();
      if (message) {
        event.preventDefault();
        if (summary) {
          summary.textContent = message;
          summary.classList.add("field-error");
        }
        return;
      }
      var button = form.querySelector("button[type=submit]");
      if (button) {
        button.disabled = true;
        button.textContent = form.getAttribute("data-busy") || "Working…";
      }
    });
  });

  // Ask before destructive submissions (forms marked data-confirm="question").
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) {
        event.preventDefault();
      }
    });
  });
})();
