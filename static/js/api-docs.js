// Swagger UI for /api/docs, from the vendored bundle (no CDN, no inline script: the strict CSP holds).
// "Authorize" takes a token (Authorization: Bearer dkd_...); the session cookie does not reach the API.
(function () {
  const config = JSON.parse(document.getElementById("swagger-settings").textContent);
  config.dom_id = "#swagger-ui";
  config.presets = [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset];
  config.layout = "BaseLayout";
  config.validatorUrl = null; // never send the schema to an outside validator
  config.requestInterceptor = (req) => {
    // The schema is read with the page's session; the operations ("Try it out") with the token
    // given to "Authorize" only: a session cookie never authenticates the API.
    if (!req.loadSpec) req.credentials = "omit";
    return req;
  };
  window.ui = SwaggerUIBundle(config);
})();
