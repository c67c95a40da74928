// Swagger UI on /api/v1/openapi.json (server/api/docs_ui.py). "Try it out" as the signed-in user:
// state-changing requests carry the session's CSRF token, as the site's own scripts send it.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.getAttribute("content") : "";
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-url"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    docExpansion: "list",
    tryItOutEnabled: false,
    requestInterceptor: function (request) {
      var method = (request.method || "GET").toUpperCase();
      if (csrf && method !== "GET" && method !== "HEAD") {
        request.headers["X-CSRFToken"] = csrf;
      }
      return request;
    },
  });
})();
