/* Visage: the deepfake history kept current without a reload, through the shared poll helper (live.js).
 *
 * Polls GET /api/v1/deepfake/checks (data-url on #deepfake-history) and rewrites every shown row:
 * status with its progress bar while queued or running, probability, verdict; the Cancel button goes
 * when a check ends. Checks started elsewhere (another tab, a script) are put on top. Words and
 * times as the page renders them (page_text.js).
 */
(function () {
  "use strict";

  var table = document.getElementById("deepfake-history");
  if (!table || !window.Visage) {
    return;
  }
  var every = Math.max(1, parseInt(table.dataset.refreshSeconds, 10) || 5) * 1000;
  var running = { queued: true, running: true };
  var t = window.Visage.text || function (key) { return key; };
  var when = window.Visage.datetime || function (iso) { return iso; };

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined) {
      node.textContent = text;
    }
    return node;
  }

  function statusCell(cell, c) {
    var nodes = [document.createTextNode(t("status:" + c.status))];
    if (running[c.status] && c.progress && c.progress.total) {
      var bar = el("progress");
      bar.max = c.progress.total;
      bar.value = c.progress.done;
      nodes.push(document.createTextNode(" "), bar);
    }
    if (c.error) {
      nodes.push(el("p", "field-error small", c.error));
    }
    cell.replaceChildren.apply(cell, nodes);
  }

  function newRow(c) {
    var row = el("tr");
    var name = el("td");
    var link = el("a", "", c.filename);
    link.href = c.url;
    name.append(link, " ", el("span", "muted small", t("media:" + c.media_kind)));
    row.append(name, el("td", "check-status"), el("td", "check-probability"), el("td", "check-verdict"),
      el("td", "", when(c.created_at)), el("td", "check-actions"));
    row.dataset.checkId = String(c.id);
    return row;
  }

  function update(row, c) {
    row.dataset.status = c.status;
    statusCell(row.querySelector(".check-status"), c);
    row.querySelector(".check-probability").textContent =
      c.probability === null || c.probability === undefined ? "\u2014" : (100 * c.probability).toFixed(1) + " %";
    row.querySelector(".check-verdict").textContent = c.verdict ? t("verdict:" + c.verdict) : "\u2014";
    var cancel = row.querySelector(".check-cancel");
    if (cancel && !running[c.status]) {
      cancel.remove();
    }
  }

  function render(data) {
    var body = table.querySelector("tbody");
    var shown = {};
    body.querySelectorAll("tr[data-check-id]").forEach(function (row) {
      shown[row.dataset.checkId] = row;
    });
    var newest = body.firstChild;
    data.checks.forEach(function (c) {
      var row = shown[String(c.id)];
      if (!row) {
        if (Object.keys(shown).length && c.id < Math.max.apply(null, Object.keys(shown).map(Number))) {
          return;  // an older check beyond the rows shown: not news
        }
        row = newRow(c);
        body.insertBefore(row, newest);
      }
      update(row, c);
    });
    if (data.checks.length) {
      table.hidden = false;
      document.getElementById("deepfake-empty").hidden = true;
    }
  }

  window.Visage.poll({ url: table.dataset.url, every: every, render: render });
}());
