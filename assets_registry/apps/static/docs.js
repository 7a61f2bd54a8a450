// Swagger UI over this server's own document; nothing is loaded from another host
// (validatorUrl: null turns off the badge that would ask validator.swagger.io).
window.ui = SwaggerUIBundle({
  url: document.getElementById("swagger-ui").getAttribute("data-spec"),
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  tryItOutEnabled: false,
  persistAuthorization: false,
});
