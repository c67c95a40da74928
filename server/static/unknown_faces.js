// The unknown-faces review: a click on a face's crop opens it large in a dialog (hover enlarges it in CSS).
(function () {
  "use strict";
  const dialog = document.getElementById("face-dialog");
  if (!dialog) return;
  const image = dialog.querySelector("img");
  document.querySelectorAll(".face-zoom").forEach(function (button) {
    button.addEventListener("click", function () {
      image.src = button.dataset.src;
      image.alt = dialog.dataset.largeAlt.replace("{alt}", button.querySelector("img").alt);
      dialog.showModal();
    });
  });
  dialog.addEventListener("click", function (event) {
    if (event.target === dialog) dialog.close();
  });
})();
