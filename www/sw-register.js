// Registers QuantLens's service worker (sw.js, written at build time), which keeps this build for
// offline use. Only over http(s) and where service workers exist; on file:// (a saved single-file
// page) or on any failure it does nothing and throws nothing: the page works the same, online.
(function () {
  try {
    if (!/^https?:$/.test(location.protocol) || !("serviceWorker" in navigator)) return;
    var register = function () {
      try {
        navigator.serviceWorker.register("sw.js", { updateViaCache: "none" }).catch(function () {});
      } catch (e) {
        /* not allowed here (e.g. an opaque origin): stay online-only */
      }
    };
    // After the page's own load, so precaching never competes with the app's first download.
    if (document.readyState === "complete") register();
    else addEventListener("load", register);
  } catch (e) {
    /* nothing to do */
  }
})();
