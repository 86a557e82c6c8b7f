/* The phone app's service worker (scope /m/).
 *
 * What it keeps: the app's own scripts, styles and icons (so the phone app opens quickly and draws
 * itself on a dock with a weak signal) and one page that says the network is gone. What it never
 * keeps: a page with someone's work on it, nor any answer to a form or an API call. A phone passes
 * from hand to hand; a signed-out person must not find the last person's work orders in a cache.
 * Forms that fail are kept by mobile.js in IndexedDB, per user, and sent again.
 *
 * Every request goes to the network first, so a new release takes effect at once; the cached copy
 * answers only when the network does not.
 */
"use strict";

var SHELL = "coldpledge-shell-v1";
var OFFLINE = "/m/offline";
var PRECACHE = [
  OFFLINE,
  "/static/css/base.css",
  "/static/css/mobile.css",
  "/static/js/app.js",
  "/static/js/mobile.js",
  "/static/vendor/htmx/htmx.min.js",
  "/static/vendor/jsqr/jsQR.js",
  "/static/img/icon.svg",
  "/static/mobile/icon-192.png",
];

self.addEventListener("install", function (event) {
  event.waitUntil(
    caches.open(SHELL).then(function (cache) { return cache.addAll(PRECACHE); }).then(function () {
      return self.skipWaiting();
    })
  );
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches.keys().then(function (names) {
      return Promise.all(names.filter(function (name) { return name !== SHELL; }).map(function (name) {
        return caches.delete(name);
      }));
    }).then(function () { return self.clients.claim(); })
  );
});

function fromNetworkKeeping(request) {
  return fetch(request).then(function (response) {
    if (response.ok) {
      var copy = response.clone();
      caches.open(SHELL).then(function (cache) { cache.put(request, copy); });
    }
    return response;
  }).catch(function () {
    return caches.match(request).then(function (kept) { return kept || Response.error(); });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") {
    return; // forms and uploads: the page's own code keeps what fails
  }
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) {
    return;
  }
  if (url.pathname.indexOf("/static/") === 0) {
    event.respondWith(fromNetworkKeeping(request));
  } else if (request.mode === "navigate") {
    event.respondWith(fetch(request).catch(function () { return caches.match(OFFLINE); }));
  }
});
