// Album pages: upload with a progress bar per file (XHR to the API), then one analysis job whose
// progress is shown until it finishes. Without JavaScript the form posts all files at once.
// Its words come translated from the page (page_text.js, loaded first on the library page).
"use strict";

(function () {
  var CONCURRENT = 3;
  var Visage = window.Visage || {};
  var t = Visage.text || function (key) { return key; };
  var plural = Visage.plural || function (key) { return key; };
  var csrf = (document.querySelector("meta[name=csrf-token]") || {}).content || "";

  function megabytes(bytes) { return t("{mib} MiB", { mib: (bytes / 1048576).toFixed(1) }); }

  function cell(row, text, css) {
    var td = document.createElement("td");
    if (css) { td.className = css; }
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function describe(status, body) {
    if (status === 201 || status === 422) {
      var files = (body && body.files) || [];
      if (files.length === 1) {
        var only = files[0];
        return { ok: only.status === "stored" || only.status === "duplicate",
                 text: only.reason ? t("{status}: {reason}", { status: t(only.status), reason: only.reason }) : t(only.status) };
      }
      return { ok: status === 201, text: t("{stored} stored, {duplicates} duplicate(s), {rejected} refused",
               { stored: body.stored, duplicates: body.duplicates, rejected: body.rejected }) };
    }
    return { ok: false, text: t("refused: {reason}", { reason: (body && body.error) || ("HTTP " + status) }) };
  }

  function uploadOne(form, item) {
    return new Promise(function (resolve) {
      var data = new FormData();
      var isZip = /\.zip$/i.test(item.file.name);
      data.append(isZip ? "zip" : "photos", item.file, item.file.name);
      data.append("index", "0");
      var album = form.querySelector("input[name=album_id]");
      if (album) { data.append("album_id", album.value); }
      var xhr = new XMLHttpRequest();
      var started = performance.now();
      xhr.open("POST", form.getAttribute("data-api"));
      xhr.setRequestHeader("X-CSRFToken", csrf);
      xhr.setRequestHeader("Accept", "application/json");
      item.status.textContent = t("uploading");
      xhr.upload.addEventListener("progress", function (event) {
        if (!event.lengthComputable) { return; }
        item.bar.value = event.loaded / event.total;
        var seconds = (performance.now() - started) / 1000;
        if (seconds > 0) { item.speed.textContent = t("{mib} MiB/s", { mib: (event.loaded / seconds / 1048576).toFixed(1) }); }
      });
      xhr.upload.addEventListener("load", function () { item.status.textContent = t("checking"); });
      xhr.addEventListener("load", function () {
        var body = null;
        try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
        var outcome = describe(xhr.status, body);
        item.bar.value = 1;
        item.status.textContent = outcome.text;
        item.status.classList.add(outcome.ok ? "done" : "refused");
        item.row.setAttribute("data-result", outcome.ok ? "ok" : "refused");
        resolve(outcome.ok);
      });
      xhr.addEventListener("error", function () {
        item.status.textContent = t("network error: not uploaded");
        item.status.classList.add("refused");
        item.row.setAttribute("data-result", "refused");
        resolve(false);
      });
      xhr.send(data);
    });
  }

  function pollJob(url, status) {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (job) {
        var progress = job.progress || {};
        if (job.status === "succeeded") {
          status.textContent = job.result ? t("Analysis finished: {faces}.", { faces: plural("{num} face found", job.result.faces) })
            : t("Analysis finished.");
          status.setAttribute("data-state", "done");
          window.setTimeout(function () { window.location.reload(); }, 800);
        } else if (job.status === "failed") {
          status.textContent = t("Analysis failed: {error}", { error: job.error });
          status.setAttribute("data-state", "failed");
        } else {
          status.textContent = t("Analysing faces: {done} of {total} photos…", { done: progress.done || 0, total: progress.total || "?" });
          window.setTimeout(function () { pollJob(url, status); }, 1000);
        }
      })
      .catch(function () { window.setTimeout(function () { pollJob(url, status); }, 2000); });
  }

  function startIndex(form, status) {
    fetch(form.getAttribute("data-index-api"), {
      method: "POST", credentials: "same-origin",
      headers: { "X-CSRFToken": csrf, Accept: "application/json" }
    }).then(function (response) { return response.json(); }).then(function (body) {
      if (body.job) {
        status.textContent = plural("Analysing faces in {num} photo…", body.photos);
        pollJob(body.job.url, status);
      } else {
        status.textContent = t("Nothing new to analyse.");
        status.setAttribute("data-state", "done");
      }
    });
  }

  var form = document.getElementById("album-upload");
  if (form) {
    form.addEventListener("submit", function (event) {
      var input = form.querySelector("input[type=file]");
      var files = Array.prototype.slice.call(input.files || []);
      if (!files.length || !window.FormData || !window.Promise) { return; }
      event.preventDefault();
      var table = document.getElementById("upload-progress");
      var body = table.querySelector("tbody");
      var status = document.getElementById("index-status");
      table.hidden = false;
      var queue = files.map(function (file) {
        var row = document.createElement("tr");
        row.setAttribute("data-file", file.name);
        cell(row, file.name + " (" + megabytes(file.size) + ")");
        var item = { file: file, row: row, status: cell(row, t("waiting"), "status") };
        var td = document.createElement("td");
        item.bar = document.createElement("progress");
        item.bar.max = 1; item.bar.value = 0;
        td.appendChild(item.bar); row.appendChild(td);
        item.speed = cell(row, "");
        body.appendChild(row);
        return item;
      });
      var button = form.querySelector("button[type=submit]");
      button.disabled = true;
      var stored = 0;
      function worker() {
        var item = queue.shift();
        if (!item) { return Promise.resolve(); }
        return uploadOne(form, item).then(function (ok) { if (ok) { stored += 1; } return worker(); });
      }
      var workers = [];
      for (var i = 0; i < CONCURRENT; i += 1) { workers.push(worker()); }
      Promise.all(workers).then(function () {
        button.disabled = false;
        input.value = "";
        if (stored) { startIndex(form, status); } else { status.textContent = t("No photo was stored."); }
      });
    });
  }

  // Ask before destructive submissions (forms marked data-confirm="question").
  document.querySelectorAll("form[data-confirm]").forEach(function (confirmForm) {
    confirmForm.addEventListener("submit", function (event) {
      if (!window.confirm(confirmForm.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });
})();
