/* Visage: the devices list and one device's page, kept current without a reload.
 *
 * Both poll through the shared helper (live.js). The list (#device-table, GET /devices/status)
 * rewrites each row's status and figures; the device page (#device-live, GET
 * /devices/{id}/live) rewrites status, last seen, the newest telemetry, the crop mode the device
 * acknowledged (text and selector, unless the operator is choosing one) and the command list with
 * each command's status and the device's answer. Words and times as the server renders them: in
 * the reader's language and the deployment's time zone (page_text.js, loaded first).
 */
(function () {
  "use strict";

  if (!window.Visage || !window.Visage.text) {
    return;
  }
  var t = window.Visage.text;

  function when(iso) {
    return iso ? window.Visage.datetime(iso) : t("never");
  }

  function one(value) {
    return value === null || value === undefined ? "\u2014" : Number(value).toFixed(1);
  }

  function stages(stageMs, unit) {
    return Object.keys(stageMs || {}).sort().map(function (stage) {
      return stage + " " + Number(stageMs[stage]).toFixed(1) + unit;
    });
  }

  function setState(id) {
    return function (text) {
      var node = document.getElementById(id);
      if (node) {
        node.textContent = text;
      }
    };
  }

  function stamp() {
    return t("Updated {time}.", { time: window.Visage.clock(new Date()) });
  }

  // ------------------------------------------------------------------ the list
  var table = document.getElementById("device-table");
  if (table) {
    var listState = setState("device-refresh-state");
    window.Visage.poll({
      url: table.dataset.url,
      every: window.Visage.every(table),
      state: listState,
      render: function (data) {
        data.devices.forEach(function (d) {
          var row = table.querySelector("tr[data-device='" + CSS.escape(d.device_id) + "']");
          if (!row) {
            return;
          }
          function col(name, text) {
            var cell = row.querySelector("[data-col='" + name + "']");
            if (cell) {
              cell.textContent = text;
            }
          }
          col("status", t(d.online ? "online" : "offline") + (d.problems.length ? " \u2014 " + d.problems.join("; ") : ""));
          col("last_seen", when(d.last_seen_at));
          col("fps", one(d.fps));
          col("stage_ms", stages(d.stage_ms, "").join(", ") || "\u2014");
          col("backlog", d.backlog ? d.backlog.depth + "/" + d.backlog.capacity + (d.backlog.alarm ? " " + t("backlog over 80 %") : "") : "\u2014");
          col("cpu", one(d.cpu_temperature_c));
          col("gallery", d.gallery_version === null || d.gallery_version === undefined ? "\u2014" : String(d.gallery_version));
          col("clock", t(d.clock_skew_exceeded ? "clock skew" : "ok"));
        });
        listState(stamp());
      }
    });
  }

  // ------------------------------------------------------------------ one device
  var head = document.getElementById("device-live");
  if (!head) {
    return;
  }
  var pageState = setState("device-refresh-state");

  function commandRow(c) {
    var row = document.createElement("tr");
    row.setAttribute("data-command-id", c.command_id);
    var args = c.args && Object.keys(c.args).length ? " " + JSON.stringify(c.args) : "";
    [[when(c.created_at), ""], [c.name + args, ""], [t("command:" + c.status), "command-status"], [c.detail || "", "command-detail"]]
      .forEach(function (pair) {
        var td = document.createElement("td");
        td.textContent = pair[0];
        if (pair[1]) {
          td.className = pair[1];
        }
        row.appendChild(td);
      });
    return row;
  }

  function render(data) {
    var d = data.device;
    document.getElementById("device-status").textContent = t(d.online ? "online" : "offline");
    document.getElementById("device-last-seen").textContent = when(d.last_seen_at);
    var tele = data.telemetry;
    document.getElementById("latest-telemetry").textContent = tele
      ? [when(tele.at) + ": " + one(tele.fps) + " FPS", t("{value} faces/s", { value: one(tele.faces_per_second) })].concat(stages(tele.stage_ms, " ms")).join(", ")
      : t("none yet");
    document.querySelector("#device-crops strong").textContent = d.crops ? t("crops:" + d.crops) : t("not reported yet");
    var select = document.getElementById("cmd-crops-mode");
    if (select && d.crops && document.activeElement !== select) {
      select.value = d.crops;
    }
    var list = document.getElementById("command-list");
    if (list) {
      var body = list.querySelector("tbody");
      body.replaceChildren.apply(body, data.commands.map(commandRow));
      list.hidden = data.commands.length === 0;
      document.getElementById("no-commands").hidden = data.commands.length > 0;
    }
    pageState(stamp());
  }

  window.Visage.poll({ url: head.dataset.url, every: window.Visage.every(head), render: render, state: pageState });
}());
