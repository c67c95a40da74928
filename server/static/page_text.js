/* Visage: the words and the clock a page hands its scripts (issue 18), so that scripts hold no
 * English of their own and show times as the server does.
 *
 * The server renders them, already in the reader's language, as JSON in the data-words attribute of
 * a hidden <div id="page-text" data-lang data-zone data-datetime> (templates/page_text.html; the CSP
 * allows no inline script). Keys are the English texts.
 *   Visage.text("Updated {time}.", {time: "13:41"})  the translation with {name} placeholders filled
 *   Visage.plural("{num} face", n)                    the "one" or "other" form the server gave
 *   Visage.datetime(iso)                              the instant in the deployment's zone, in the
 *                                                     CLDR pattern Babel uses for the page's language
 *   Visage.clock(date), Visage.hhmm(date)             "13:41:05" / "13:41" in that zone; Visage.zone
 * A missing key falls back to the key itself (English). No dependencies.
 */
(function () {
  "use strict";

  var Visage = window.Visage = window.Visage || {};
  var node = document.getElementById("page-text");
  var words = node && node.dataset.words ? JSON.parse(node.dataset.words) : {};
  var lang = (node && node.dataset.lang) || document.documentElement.lang || "en";
  var zone = (node && node.dataset.zone) || "UTC";
  var pattern = (node && node.dataset.datetime) || "y-MM-dd HH:mm";

  function fill(text, values) {
    return String(text).replace(/\{(\w+)\}/g, function (whole, name) {
      return values && values[name] !== undefined && values[name] !== null ? String(values[name]) : whole;
    });
  }

  Visage.text = function (key, values) {
    var text = words[key];
    return fill(typeof text === "string" ? text : key, values);
  };

  Visage.plural = function (key, n, values) {
    var forms = words[key] || {};
    var text = n === 1 ? forms.one : forms.other;
    var all = { num: n };
    Object.keys(values || {}).forEach(function (name) { all[name] = values[name]; });
    return fill(typeof text === "string" ? text : key, all);
  };

  // The parts of an instant in the zone and language, by CLDR field letter (y, MMM, d, E, HH, mm, ss).
  var parts = new Intl.DateTimeFormat(lang, {
    timeZone: zone, year: "numeric", month: "short", day: "numeric", weekday: "short",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23"
  });
  var numeric = new Intl.DateTimeFormat("en-GB", {
    timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23"
  });

  function fields(date) {
    var out = {};
    parts.formatToParts(date).forEach(function (p) { out[p.type] = p.value; });
    var num = {};
    numeric.formatToParts(date).forEach(function (p) { num[p.type] = p.value; });
    return {
      y: num.year, MMM: out.month, MM: num.month, d: String(parseInt(num.day, 10)), dd: num.day,
      E: out.weekday, HH: num.hour, mm: num.minute, ss: num.second
    };
  }

  Visage.zone = zone;

  Visage.clock = function (date) {
    var f = fields(date);
    return f.HH + ":" + f.mm + ":" + f.ss;
  };

  Visage.hhmm = function (date) {
    var f = fields(date);
    return f.HH + ":" + f.mm;
  };

  /* "E, MMM d, y HH:mm" -> "Mon, Mar 2, 2026 13:41"; quoted text ('...') is kept as it is. */
  Visage.datetime = function (iso) {
    if (!iso) {
      return "";
    }
    var f = fields(new Date(iso));
    return pattern.replace(/'([^']*)'|([A-Za-z])\2*/g, function (token, quoted) {
      if (quoted !== undefined) {
        return quoted;
      }
      return f[token] !== undefined ? f[token] : token;
    });
  };
}());
