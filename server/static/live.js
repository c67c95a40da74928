/* Visage: the one mechanism by which pages stay live without a reload (a small poll helper).
 *
 * Visage.poll({url, every, render, state}) fetches `url` (JSON, same-origin cookies; or a function
 * giving the URL, when it changes between polls, e.g. a `since`) every `every` milliseconds and
 * hands the answer to render(data); state(text) hears "not refreshed (...); retrying" on a
 * failure (a 401 says to sign in again). One request at a time, paused while the tab
 * is hidden, refreshed at once when it shows again. Returns {refresh} to poll now (e.g. after a
 * form posted). No dependencies: classrooms may be offline. Used by the attendance roster, the home
 * dashboards, the device pages, the album and the deepfake history.
 */
(function () {
  "use strict";

  var Visage = window.Visage = window.Visage || {};

  // The page's translated words (page_text.js) when it gives them, else the English key.
  function say(key, values) {
    if (Visage.text) {
      return Visage.text(key, values);
    }
    return key.replace(/\{(\w+)\}/g, function (whole, name) {
      return values && values[name] !== undefined ? String(values[name]) : whole;
    });
  }

  Visage.poll = function (options) {
    var every = Math.max(1000, options.every || 5000);
    var state = options.state || function () {};
    var timer = null;
    var inflight = false;

    function schedule() {
      window.clearTimeout(timer);
      timer = window.setTimeout(refresh, every);
    }

    function refresh() {
      if (inflight) {
        return;
      }
      if (document.hidden) {
        schedule();
        return;
      }
      inflight = true;
      var url = typeof options.url === "function" ? options.url() : options.url;
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store" })
        .then(function (response) {
          if (response.status === 401) {
            throw new Error(say("you are signed out: reload the page to sign in again"));
          }
          if (!response.ok) {
            throw new Error(say("the server answered {status}", { status: response.status }));
          }
          return response.json();
        })
        .then(function (data) {
          options.render(data);
        })
        .catch(function (error) {
          state(say("Not refreshed ({reason}); retrying.", { reason: error.message }));
        })
        .then(function () {
          inflight = false;
          schedule();
        });
    }

    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) {
        refresh();
      }
    });
    schedule();
    return { refresh: refresh };
  };

  /* The poll period, in ms, that the page gives on `node` as data-refresh-seconds (the server's
   * LIVE_REFRESH_SECONDS or ATTENDANCE_REFRESH_SECONDS): 5 s when missing, never under 1 s. */
  Visage.every = function (node) {
    return Math.max(1, parseInt(node.dataset.refreshSeconds, 10) || 5) * 1000;
  };

  /* A new element with an optional class and text: how the live pages build the rows they add. */
  Visage.el = function (tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined) {
      node.textContent = text;
    }
    return node;
  };

  /* The value at a dotted path ("admin.devices.online") of a JSON document, or undefined. */
  Visage.pick = function (data, path) {
    return path.split(".").reduce(function (node, key) {
      return node === null || node === undefined ? undefined : node[key];
    }, data);
  };
}());
