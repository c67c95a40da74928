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
  // Times are rendered by the server in the deployment's zone and the page's language (server/i18n.py).
})();
