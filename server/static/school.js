// School management pages: small progressive enhancements; every form works without them.
"use strict";

(function () {
  // Ask before destructive submissions (forms marked data-confirm="question").
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) {
        event.preventDefault();
      }
    });
  });

  // Pre-fill empty time-zone fields with the browser's own zone (e.g. "Asia/Seoul").
  var browserZone = "";
  try {
    browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch (error) {
    browserZone = "";
  }
  document.querySelectorAll("input[data-browser-zone]").forEach(function (input) {
    if (!input.value && browserZone) {
      input.value = browserZone;
    }
  });

  // Show instants in the browser's zone when the server rendered them in UTC.
  document.querySelectorAll("time[data-local]").forEach(function (node) {
    if (!/UTC$/.test(node.textContent.trim())) {
      return; // the server already shows the school's configured zone
    }
    var when = new Date(node.getAttribute("datetime"));
    if (isNaN(when.getTime())) {
      return;
    }
    var options = node.getAttribute("data-local") === "time"
      ? { hour: "2-digit", minute: "2-digit" }
      : { weekday: "short", year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" };
    node.title = node.textContent;
    node.textContent = when.toLocaleString(undefined, options);
  });
})();
