/* global SwaggerUIBundle */
// Swagger UI for /docs, from our own static files (no CDN, no inline script, no online validator).
window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: 'BaseLayout',
});
