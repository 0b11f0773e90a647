// Live refresh: an element with data-refresh="<url>" is replaced by that URL's HTML every
// data-interval milliseconds (the server renders it; no framework). Pauses while hidden.
(function () {
  "use strict";
  function refresh(el) {
    if (document.hidden) { return; }
    fetch(el.dataset.refresh, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (r) {
        if (r.redirected || !r.ok) { throw new Error("status " + r.status); }
        return r.text();
      })
      .then(function (html) { el.innerHTML = html; el.classList.remove("stale"); })
      .catch(function () { el.classList.add("stale"); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-refresh]").forEach(function (el) {
      var every = parseInt(el.dataset.interval || "5000", 10);
      setInterval(function () { refresh(el); }, every);
    });
    var outcome = document.getElementById("outcome");
    if (outcome && outcome.dataset.state === "pending") {
      setTimeout(function () { window.location.reload(); }, 2000);
    }
  });
})();
