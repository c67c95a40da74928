/* Visage: the device page's telemetry charts (uPlot, served from static/vendor, fetched from npm by
 * scripts/fetch_uplot.py): time axis in the deployment's zone (page_text.js), a y axis with its unit, values under the cursor in the
 * legend, and per-stage latency as one line per stage. The history comes from GET
 * /devices/{id}/telemetry, then only what is new (`since`) through the shared poll helper (live.js),
 * so the charts grow without a reload. Without uPlot the server-drawn SVG charts stay.
 */
(function () {
  "use strict";

  var box = document.getElementById("live-charts");
  var head = document.getElementById("device-live");
  if (!box || !head || !window.uPlot || !window.Visage || !window.Visage.datetime) {
    return;
  }
  var Visage = window.Visage;
  var timeLabel = Visage.text("time ({zone})", { zone: Visage.zone });
  var COLORS = ["#1f5fa8", "#c2410c", "#15803d", "#7c3aed", "#be185d", "#0e7490", "#a16207", "#475569"];
  var every = window.Visage.every(head);
  var points = [];
  var charts = {};

  function stamp(ts) {
    return Visage.datetime(new Date(ts * 1000).toISOString());
  }

  function hhmm(ts) {
    return Visage.hhmm(new Date(ts * 1000));
  }

  function seconds(iso) {
    return Date.parse(iso) / 1000;
  }

  // [{key, label, get(point)}] for one chart: its fields, or one series per stage for stage_ms.
  function seriesOf(div) {
    var fields = div.dataset.fields.split(",");
    if (fields[0] === "stage_ms") {
      var stages = {};
      points.forEach(function (p) {
        Object.keys(p.stage_ms || {}).forEach(function (stage) { stages[stage] = true; });
      });
      return Object.keys(stages).sort().map(function (stage) {
        return { key: stage, label: stage, get: function (p) { return p.stage_ms ? p.stage_ms[stage] : null; } };
      });
    }
    var labels = (div.dataset.labels || div.dataset.fields).split(",");
    return fields.map(function (field, i) {
      return { key: field, label: labels[i], get: function (p) { return p[field]; } };
    });
  }

  function dataOf(series) {
    var columns = [points.map(function (p) { return seconds(p.at); })];
    series.forEach(function (s) {
      columns.push(points.map(function (p) {
        var v = s.get(p);
        return v === undefined ? null : v;
      }));
    });
    return columns;
  }

  function build(div, series) {
    var unit = div.dataset.unit;
    var format = function (u, v) { return v === null || v === undefined ? "\u2014" : v.toFixed(1) + " " + unit; };
    var options = {
      title: div.dataset.title + " (" + unit + ")",
      width: Math.max(320, Math.min(900, box.clientWidth || 720)),
      height: 220,
      tzDate: function (ts) { return window.uPlot.tzDate(new Date(ts * 1000), Visage.zone); },
      scales: { x: { time: true } },
      axes: [{ label: timeLabel, values: function (u, splits) { return splits.map(hhmm); } }, { label: unit, size: 60 }],
      series: [{ label: timeLabel, value: function (u, ts) { return ts === null ? "\u2014" : stamp(ts); } }].concat(series.map(function (s, i) {
        return { label: s.label, stroke: COLORS[i % COLORS.length], width: 2, value: format, spanGaps: true };
      }))
    };
    div.replaceChildren();
    return new window.uPlot(options, dataOf(series), div);
  }

  function draw() {
    box.querySelectorAll(".live-chart").forEach(function (div) {
      var series = seriesOf(div);
      var keys = series.map(function (s) { return s.key; }).join(",");
      var chart = charts[div.id];
      if (chart && chart.keys === keys) {
        chart.plot.setData(dataOf(series));
      } else {
        if (chart) {
          chart.plot.destroy();
        }
        charts[div.id] = { keys: keys, plot: build(div, series) };
      }
    });
  }

  function url() {
    var base = box.dataset.url;
    return points.length ? base + "?since=" + encodeURIComponent(points[points.length - 1].at) : base;
  }

  function render(data) {
    var last = points.length ? seconds(points[points.length - 1].at) : -Infinity;
    data.telemetry.forEach(function (p) {
      if (seconds(p.at) > last) {
        points.push(p);
      }
    });
    if (!points.length) {
      return;
    }
    box.hidden = false;
    document.querySelectorAll("section.chart").forEach(function (section) { section.hidden = true; });
    draw();
  }

  window.Visage.poll({ url: url, every: every, render: render }).refresh();
}());
