// Enrolment pages: small progressive enhancements; every form works without them.
"use strict";

(function () {
  function megabytes(bytes, decimals) {
    return (bytes / 1048576).toFixed(decimals === undefined ? 1 : decimals) + " MiB";
  }

  // A sentence of the form's data-text-* attribute (translated by the page) with {names} filled in.
  function say(form, name, fallback, values) {
    var text = form.getAttribute("data-text-" + name) || fallback;
    return text.replace(/\{(\w+)\}/g, function (whole, key) {
      return key in values ? String(values[key]) : whole;
    });
  }

  // A size and its limit, with enough decimals that they never read the same (server.uploads.policy).
  function overLimit(form, size, limit) {
    var fallback = "{size} selected, more than the {limit} limit: send fewer or smaller files.";
    for (var decimals = 1; decimals <= 3; decimals++) {
      if (megabytes(size, decimals) !== megabytes(limit, decimals)) {
        return say(form, "too-large", fallback, { size: megabytes(size, decimals), limit: megabytes(limit, decimals) });
      }
    }
    return say(form, "too-large", fallback, { size: size + " bytes", limit: limit + " byte" });
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
        return say(form, "too-many", "{count} files selected: send at most {max} at a time.",
                   { count: files.length, max: maxFiles });
      }
      if (total > maxBytes) {
        return overLimit(form, total, maxBytes);
      }
      return "";
    }

    form.addEventListener("change", function () {
      if (!summary) {
        return;
      }
      var files = selectedFiles(form);
      var total = files.reduce(function (sum, file) { return sum + file.size; }, 0);
      var text = problem() || say(form, files.length === 1 ? "one" : "other", "{count} file(s), {size} selected.",
                                  { count: files.length, size: megabytes(total) });
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
