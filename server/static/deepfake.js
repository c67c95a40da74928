// Deepfake pages: per-file upload and scoring progress, live result pages. The forms work without it.
"use strict";

(function () {
  var csrf = (document.querySelector("meta[name=csrf-token]") || {}).content || "";
  var POLL_MS = 1500;

  function percent(p) {
    return (100 * p).toFixed(1) + " %";
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) { throw new Error(body.error || ("HTTP " + r.status)); }
        return body;
      });
    });
  }

  // Follow one check until it is done, failed or cancelled; `show` gets every state.
  function follow(apiUrl, show) {
    getJSON(apiUrl).then(function (check) {
      show(check);
      if (check.status === "queued" || check.status === "running") {
        window.setTimeout(function () { follow(apiUrl, show); }, POLL_MS);
      }
    }).catch(function (error) {
      show({ status: "failed", error: error.message });
    });
  }

  function checkUrl(base, id) {
    return base.replace(/\/$/, "") + "/" + id;
  }

  function describe(check) {
    if (check.status === "done") {
      return check.probability === null ? check.verdict_label : check.verdict_label + ", " + percent(check.probability) + " fake";
    }
    if (check.status === "failed") { return "failed: " + (check.error || "unknown error"); }
    if (check.status === "cancelled") { return "cancelled"; }
    var p = check.progress || {};
    return check.status + (p.message ? " (" + p.message + ")" : "");
  }

  // Upload page: each file goes to the API on its own, with its own progress bar.
  var form = document.getElementById("deepfake-upload");
  var list = document.getElementById("deepfake-progress");
  if (form && list && window.XMLHttpRequest && window.FormData) {
    var api = form.getAttribute("data-api");
    var maxBytes = parseInt(form.getAttribute("data-max-file-bytes"), 10);
    var maxFiles = parseInt(form.getAttribute("data-max-files"), 10);
    form.addEventListener("submit", function (event) {
      var input = form.querySelector("input[type=file]");
      var files = Array.prototype.slice.call(input.files || []);
      if (!files.length) { return; }
      event.preventDefault();
      if (files.length > maxFiles) {
        window.alert(files.length + " files selected: send at most " + maxFiles + " at a time.");
        return;
      }
      files.forEach(function (file) { send(file); });
      input.value = "";
    });

    function send(file) {
      var item = document.createElement("li");
      item.className = "upload-item";
      var name = document.createElement("span");
      name.textContent = file.name + " ";
      var bar = document.createElement("progress");
      bar.max = 100;
      bar.value = 0;
      var state = document.createElement("span");
      state.className = "upload-state small";
      state.textContent = " uploading";
      item.appendChild(name);
      item.appendChild(bar);
      item.appendChild(state);
      list.appendChild(item);
      if (file.size > maxBytes) {
        state.textContent = " refused: larger than " + (maxBytes / 1048576).toFixed(0) + " MiB";
        item.classList.add("field-error");
        return;
      }
      var body = new FormData();
      body.append("file", file, file.name);
      var xhr = new XMLHttpRequest();
      xhr.open("POST", api);
      xhr.setRequestHeader("X-CSRFToken", csrf);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) { bar.value = Math.round(50 * e.loaded / e.total); }
      });
      xhr.addEventListener("load", function () {
        var answer = {};
        try { answer = JSON.parse(xhr.responseText); } catch (ignored) { answer = {}; }
        if (xhr.status !== 202 || !answer.checks || !answer.checks.length) {
          bar.value = 0;
          state.textContent = " refused: " + (answer.error || (answer.refused && answer.refused[0] && answer.refused[0].reason) || ("HTTP " + xhr.status));
          item.classList.add("field-error");
          return;
        }
        var check = answer.checks[0];
        var link = document.createElement("a");
        link.href = check.url;
        link.textContent = file.name;
        item.replaceChild(link, name);
        item.setAttribute("data-check-id", check.id);
        follow(checkUrl(api, check.id), function (c) {
          var p = c.progress || {};
          if (c.status === "done" || c.status === "failed" || c.status === "cancelled") {
            bar.value = 100;
          } else if (p.total) {
            bar.value = 50 + Math.round(50 * p.done / p.total);
          }
          state.textContent = " " + describe(c);
          item.setAttribute("data-status", c.status);
          if (c.status === "failed") { item.classList.add("field-error"); }
        });
      });
      xhr.addEventListener("error", function () {
        state.textContent = " upload failed (network error)";
        item.classList.add("field-error");
      });
      xhr.send(body);
    }
  }

  // The history table refreshes itself through the shared poll helper: static/deepfake_live.js.

  // Result page of a check still in progress: reload once it is finished.
  var result = document.getElementById("deepfake-result");
  if (result) {
    var status = result.getAttribute("data-status");
    if (status === "queued" || status === "running") {
      follow(result.getAttribute("data-api"), function (c) {
        if (c.status === "done" || c.status === "failed" || c.status === "cancelled") {
          window.location.reload();
        }
        var progress = result.querySelector("progress");
        if (progress && c.progress && c.progress.total) {
          progress.max = c.progress.total;
          progress.value = c.progress.done;
        }
      });
    }
  }

  document.querySelectorAll("form[data-confirm]").forEach(function (f) {
    f.addEventListener("submit", function (event) {
      if (!window.confirm(f.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });
})();
