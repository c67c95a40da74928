/* Visage: the album library kept current without a reload, through the shared poll helper (live.js).
 *
 * Polls the same page of GET /api/v1/album/photos as the one shown (data-url on #library-counts):
 * rewrites the counts line (analysed / waiting / failed, over the whole library), each shown
 * photo's badge as its analysis finishes, and on the first page puts newly uploaded photos (from
 * another tab, a script or the API) in front, as the server would render them.
 */
(function () {
  "use strict";

  var counts = document.getElementById("library-counts");
  if (!counts || !window.Visage) {
    return;
  }
  var every = window.Visage.every(counts);
  var el = window.Visage.el;
  var t = window.Visage.text || function (key) { return key; };
  var plural = window.Visage.plural || function (key) { return key; };

  function badges(photo) {
    var out = [];
    if (photo.status === "pending" || photo.status === "indexing") {
      out.push(el("span", "badge pending", t("analysing\u2026")));
    } else if (photo.status === "failed") {
      var failed = el("span", "badge failed", t("failed"));
      failed.title = photo.error || "";
      out.push(failed);
    } else {
      out.push(el("span", "badge", plural("{num} face", photo.face_count)));
    }
    if (photo.blurred) {
      out.push(el("span", "badge blurred", t("blurred")));
    }
    return out;
  }

  function setBadges(item, photo) {
    item.querySelectorAll(".badge").forEach(function (node) {
      node.remove();
    });
    badges(photo).forEach(function (node) {
      item.appendChild(document.createTextNode(" "));
      item.appendChild(node);
    });
    item.dataset.status = photo.status;
    item.dataset.faces = String(photo.face_count);
  }

  function newItem(photo) {
    var item = el("li");
    item.dataset.photo = String(photo.id);
    item.dataset.filename = photo.filename;
    var link = el("a");
    link.href = counts.dataset.photoUrl.replace(/0$/, String(photo.id));
    var img = el("img");
    img.src = photo.thumbnail_url;
    img.alt = photo.filename;
    img.loading = "lazy";
    link.appendChild(img);
    item.appendChild(link);
    item.appendChild(document.createTextNode(" "));
    item.appendChild(el("span", "small", photo.filename));
    setBadges(item, photo);
    return item;
  }

  function grid() {
    var found = document.getElementById("photo-grid");
    if (!found) {
      found = el("ul", "photo-grid");
      found.id = "photo-grid";
      var empty = document.getElementById("no-photos");
      empty.parentNode.insertBefore(found, empty);
      empty.hidden = true;
    }
    return found;
  }

  function render(data) {
    var c = data.counts;
    counts.textContent = t("{num} analysed", { num: c.indexed }) + " \u00b7 " +
      t("{num} waiting for analysis", { num: c.pending + c.indexing }) +
      (c.failed ? " \u00b7 " + t("{num} failed", { num: c.failed }) : "");
    var shown = {};
    document.querySelectorAll("#photo-grid li[data-photo]").forEach(function (item) {
      shown[item.dataset.photo] = item;
    });
    var fresh = [];
    data.photos.forEach(function (photo) {
      var item = shown[String(photo.id)];
      if (item) {
        if (item.dataset.status !== photo.status || item.dataset.faces !== String(photo.face_count)) {
          setBadges(item, photo);
        }
      } else if (data.page === 1) {
        fresh.push(photo);
      }
    });
    if (fresh.length) {
      var list = grid();
      fresh.reverse().forEach(function (photo) {
        list.insertBefore(newItem(photo), list.firstChild);
      });
    }
  }

  window.Visage.poll({ url: counts.dataset.url, every: every, render: render });
}());
