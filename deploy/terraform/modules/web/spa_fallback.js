// Viewer-request function of the storefront's default (S3) behaviour.
//
// A path whose last segment has no dot is a route of the single-page app
// (/orders/abc, /cart, /): S3 has no object there, so it is served
// /index.html and the app's router takes over. A path with a dot is a file
// (/assets/index-3f9a.js, /config.json, /favicon.ico) and goes to S3 as it is,
// so a missing file is a real 404, not the app.
//
// Only this behaviour runs it: /v1/* goes to the API untouched. The cache key
// is taken after the rewrite, so every route shares the one cached
// /index.html, which the deploy invalidates.
function handler(event) {
  var request = event.request;
  var uri = request.uri;
  var last = uri.substring(uri.lastIndexOf("/") + 1);
  if (last.indexOf(".") === -1) {
    request.uri = "/index.html";
  }
  return request;
}
