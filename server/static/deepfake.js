// Deepfake pages: per-file upload and scoring progress, live result pages. The forms work without it.
// Its words come translated from the page (page_text.js, loaded first).
"use strict";

(function () {
  var t = (window.Visage && window.Visage.text) || function (key) { return key; };
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
      var verdict = t("verdict:" + check.verdict);
      return check.probability === null ? verdict : t("{verdict}, {percent} fake", { verdict: verdict, percent: percent(check.probability) });
    }
    if (check.status === "failed") { return t("failed: {error}", { error: check.error || t("unknown error") }); }
    var p = check.progress || {};
    var status = t("status:" + check.status);
    return p.message && check.status !== "cancelled" ? t("{status} ({message})", { status: status, message: p.message }) : status;
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
        window.alert(t("{num} files selected: send at most {most} at a time.", { num: files.length, most: maxFiles }));
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
      state.textContent = " " + t("uploading");
      item.appendChild(name);
      item.appendChild(bar);
      item.appendChild(state);
      list.appendChild(item);
      if (file.size > maxBytes) {
        state.textContent = " " + t("refused: larger than {mib} MiB", { mib: (maxBytes / 1048576).toFixed(0) });
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
          state.textContent = " " + t("refused: {reason}", { reason: answer.error || (answer.refused && answer.refused[0] && answer.refused[0].reason) || ("HTTP " + xhr.status) });
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
        state.textContent = " " + t("upload failed (network error)");
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
