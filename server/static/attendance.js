/* Visage: the attendance review page's live roster and its "Correct" shortcut.
 *
 * Served as a static file (the content security policy forbids inline scripts). Every few
 * seconds (data-refresh-seconds on #roster) the shared poll helper (live.js, loaded first) fetches
 * the session's attendance from the JSON API (data-attendance-url) and this script rebuilds the
 * roster rows with the same markup the server renders, showing times in the institution's zone
 * (data-timezone). Its words come translated from the page (page_text.js). No dependencies:
 * classrooms may be offline.
 */
(function () {
  "use strict";

  var roster = document.getElementById("roster");
  if (!roster || !window.Visage || !window.Visage.text) {
    return;
  }
  var url = roster.dataset.attendanceUrl;
  var zone = roster.dataset.timezone || "UTC";
  var every = window.Visage.every(roster);
  var t = window.Visage.text;
  var hhmm = new Intl.DateTimeFormat("en-GB", { timeZone: zone, hour: "2-digit", minute: "2-digit", hour12: false });
  var hhmmss = new Intl.DateTimeFormat("en-GB", {
    timeZone: zone, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false
  });

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") {
        node.textContent = attrs[key];
      } else if (key === "className") {
        node.className = attrs[key];
      } else {
        node.setAttribute(key, attrs[key]);
      }
    });
    (children || []).forEach(function (child) {
      if (child) {
        node.appendChild(child);
      }
    });
    return node;
  }

  function label(status) {
    return t("status:" + status);
  }

  function badge(status, source, note) {
    var manual = source === "manual";
    var attrs = {
      className: "badge s-" + status + (manual ? " manual" : ""),
      text: label(status) + (manual ? " \u270e" : "")
    };
    if (note) {
      attrs.title = note;
    }
    return el("span", attrs);
  }

  function time(iso) {
    return iso ? hhmm.format(new Date(iso)) : "";
  }

  function cell(text, className) {
    return el("td", className ? { className: className, text: text } : { text: text });
  }

  // "Now": the live state while the session runs (null before and after it), as the page renders it.
  function liveCell(live) {
    var td = el("td", { className: "now" });
    if (live) {
      var text = live.state === "out" ? t("out of the room since {time}", { time: time(live.since) })
        : live.state === "in" ? t("in the room since {time}", { time: time(live.since) }) : t("not seen yet");
      td.appendChild(el("span", { className: "live-" + live.state, text: text }));
    }
    return td;
  }

  function studentRow(s) {
    var thumb = el("td", { className: "thumb" });
    if (s.thumbnail_url) {
      thumb.appendChild(el("img", { src: s.thumbnail_url, alt: t("Face of {name}", { name: s.name }), width: "40", height: "40" }));
    }
    var status = el("td", { className: "status" }, [badge(s.status, s.source, s.note)]);
    if (s.note) {
      status.appendChild(el("small", { className: "note", text: s.note }));
    }
    var cells = [thumb, cell(s.student_number), cell(s.name), status, liveCell(s.live)];
    s.periods.forEach(function (p) {
      cells.push(el("td", {}, [badge(p.status, p.source, p.note)]));
    });
    var ev = s.evidence;
    cells.push(cell(time(ev.first_seen)));
    cells.push(cell(time(ev.last_seen)));
    cells.push(cell(String(ev.sightings), "num"));
    cells.push(cell(ev.best_score === null ? "\u2014" : ev.best_score.toFixed(2), "num"));
    cells.push(cell(Math.round(ev.presence_fraction * 100) + "%", "num"));
    cells.push(el("td", {}, [
      el("button", { type: "button", className: "link js-correct", "data-student": String(s.student_id), text: t("Correct") })
    ]));
    return el("tr", { "data-student": String(s.student_id) }, cells);
  }

  function render(data) {
    var body = document.getElementById("roster-rows");
    var rows = data.students.map(studentRow);
    if (!rows.length) {
      rows.push(el("tr", {}, [el("td", {
        colspan: String(11 + data.periods.length), className: "muted", text: t("No students on this course's roster.")
      })]));
    }
    body.replaceChildren.apply(body, rows);

    var counts = document.getElementById("counts");
    var badges = [];
    Object.keys(data.counts).forEach(function (status) {
      if (data.counts[status]) {
        badges.push(el("span", { className: "badge s-" + status, text: label(status) + " " + data.counts[status] }));
        badges.push(document.createTextNode(" "));
      }
    });
    counts.replaceChildren.apply(counts, badges);

    var pending = document.getElementById("unknown-pending");
    if (pending) {
      pending.textContent = t("{num} to review", { num: data.unknown_faces_pending });
    }
    state(t("Updated {time}; refreshes every {seconds} s.", { time: hhmmss.format(new Date(data.computed_at)), seconds: every / 1000 }));
  }

  function state(text) {
    document.getElementById("refresh-state").textContent = text;
  }

  // "Correct" on a row fills the correction form with that student and moves to its reason.
  document.addEventListener("click", function (event) {
    var button = event.target.closest(".js-correct");
    if (!button) {
      return;
    }
    document.getElementById("override-student").value = button.getAttribute("data-student");
    var reason = document.getElementById("override-reason");
    reason.scrollIntoView({ block: "center" });
    reason.focus();
  });

  window.Visage.poll({ url: url, every: every, render: render, state: state });
}());
