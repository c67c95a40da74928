/* Visage: the home dashboard's live counts.
 *
 * Polls GET /api/v1/dashboard (data-url on #dashboard) through the shared helper (live.js) and
 * writes each figure into the element that names it: data-field="admin.devices.online" (a path
 * into the document), data-join (a list, joined; hidden when empty) or data-session + data-count
 * (a session card's count). A session that starts
 * while the page is open, or a new one, is shown after a reload; its counts change live.
 */
(function () {
  "use strict";

  var root = document.getElementById("dashboard");
  if (!root || !window.Visage) {
    return;
  }
  var every = window.Visage.every(root);
  var stamp = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
  // The page's language: state names and the "Updated" sentence come translated from the template.
  var labels = JSON.parse(root.dataset.stateLabels || "{}");
  var updated = root.dataset.updatedText || "Updated {time}; refreshes every {seconds} s.";

  function state(text) {
    document.getElementById("dashboard-state").textContent = text;
  }

  function render(data) {
    root.querySelectorAll("[data-field]").forEach(function (node) {
      var value = window.Visage.pick(data, node.dataset.field);
      if (node.dataset.field === "album.photos.pending" && data.album) {
        value = data.album.photos.pending + data.album.photos.indexing;
      }
      if (value !== undefined && value !== null) {
        node.textContent = String(value);
      }
    });
    root.querySelectorAll("[data-join]").forEach(function (node) {
      var items = window.Visage.pick(data, node.dataset.join) || [];
      node.textContent = (node.dataset.prefix || "") + items.join(", ");
      node.hidden = items.length === 0;
    });
    var cards = {};
    if (data.instructor) {
      data.instructor.today.concat(data.instructor.next).forEach(function (card) {
        cards[card.id] = card;
      });
    }
    root.querySelectorAll("[data-session][data-count]").forEach(function (node) {
      var card = cards[node.dataset.session];
      if (card && card.counts) {
        node.textContent = String(card.counts[node.dataset.count]);
      }
    });
    root.querySelectorAll("[data-session][data-state]").forEach(function (node) {
      var card = cards[node.dataset.session];
      if (card) {
        node.textContent = labels[card.state] || card.state;
      }
    });
    state(updated.replace("{time}", stamp.format(new Date())).replace("{seconds}", String(every / 1000)));
  }

  window.Visage.poll({ url: root.dataset.url, every: every, render: render, state: state });
}());
