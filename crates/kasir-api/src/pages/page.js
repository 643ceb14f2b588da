(function () {
  "use strict";
  var body = document.body, KEY = "kasir_popup";
  // Opened by the JS SDK as a popup: remember whom to tell, for the pages that follow.
  var q = new URLSearchParams(location.search);
  if (q.get("popup") === "1" && q.get("origin")) {
    try { sessionStorage.setItem(KEY, q.get("origin")); } catch (e) {}
  }
  var opener = null;
  try { opener = sessionStorage.getItem(KEY); } catch (e) {}
  function tell(event) {
    if (!opener || !window.opener) return false;
    try { window.opener.postMessage({ source: "kasir", event: event }, opener); } catch (e) { return false; }
    setTimeout(function () { window.close(); }, 300);
    return true;
  }
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  // The countdown to the end of the approval window.
  // Counted from this page's loading (the phone's clock may be minutes off from Kasir's).
  var clock = document.querySelector("[data-left]");
  if (clock) {
    var until = Date.now() + 1000 * +clock.getAttribute("data-left");
    var tick = function () {
      var s = Math.max(0, Math.round((until - Date.now()) / 1000));
      clock.textContent = Math.floor(s / 60) + ":" + pad(s % 60);
    };
    tick();
    setInterval(tick, 1000);
  }
  // The live status: once it is no longer what this page shows, show the page it is now.
  var poll = body.getAttribute("data-poll");
  if (poll) {
    var shown = body.getAttribute("data-state");
    var check = function () {
      fetch(poll, { cache: "no-store", credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (s) { if (s && s.state !== shown) { location.replace(s.page); } else { setTimeout(check, 1500); } })
        .catch(function () { setTimeout(check, 3000); });
    };
    setTimeout(check, 1500);
  }
  // A final page tells the shop's window (popup), or goes back to the shop by itself.
  var outcome = body.getAttribute("data-outcome");
  var back = document.querySelector("[data-redirect-in]");
  if (outcome === "success" && tell("success")) {
    back = null;
  } else if (outcome === "cancel" && tell("cancel")) {
    back = null;
  } else if (outcome === "fail") {
    tell("fail");
  }
  if (back) {
    var left = +back.getAttribute("data-redirect-in");
    setTimeout(function () { location.href = back.getAttribute("data-href"); }, left * 1000);
  }
  var cancels = document.querySelectorAll("[data-cancel]");
  for (var i = 0; i < cancels.length; i++) {
    cancels[i].addEventListener("click", function (e) { if (tell("cancel")) e.preventDefault(); });
  }
  // One push per press: a second press while the first is on its way sends nothing.
  var forms = document.querySelectorAll("form[method=post]");
  for (var j = 0; j < forms.length; j++) {
    forms[j].addEventListener("submit", function (e) {
      var b = e.target.querySelector("button");
      if (b) { if (b.disabled) { e.preventDefault(); } b.disabled = true; }
    });
  }
})();
