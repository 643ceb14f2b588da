/* Kasir's checkout script, compatible with Tazapay's v2.0 SDK as its plugins call it:
 * window.tazapay.checkout({clientToken, callbacks: {onPaymentSuccess, onPaymentFail, onPaymentCancel},
 * config: {popup}}). It opens Kasir's hosted page for the token: in a popup when config.popup is true
 * (and calls the callbacks when the page says how it ended), else by sending this window there. */
(function () {
  "use strict";
  var script = document.currentScript;
  var base = script && script.src ? new URL(script.src, location.href).origin : location.origin;
  function page(token) {
    // A payin's client_token (44 characters, ending in "=") opens /pay/; a checkout's token /checkout/.
    token = String(token);
    var kind = token.length === 44 && token.charAt(43) === "=" ? "/pay/" : "/checkout/";
    return base + kind + encodeURIComponent(token);
  }
  function checkout(options) {
    options = options || {};
    var callbacks = options.callbacks || {}, config = options.config || {};
    if (!options.clientToken) { throw new Error("tazapay.checkout: clientToken is required"); }
    var url = page(options.clientToken);
    if (!config.popup) { location.assign(url); return; }
    var w = window.open(url + "?popup=1&origin=" + encodeURIComponent(location.origin), "kasir_checkout",
      "popup=yes,width=440,height=760");
    if (!w) { location.assign(url); return; }
    var done = false;
    function finish(name) {
      if (done) return;
      done = true;
      window.removeEventListener("message", onMessage);
      clearInterval(watch);
      var f = callbacks[name];
      if (typeof f === "function") { f(); }
    }
    function onMessage(e) {
      if (e.source !== w || e.origin !== base || !e.data || e.data.source !== "kasir") return;
      if (e.data.event === "success") finish("onPaymentSuccess");
      else if (e.data.event === "fail") finish("onPaymentFail");
      else if (e.data.event === "cancel") finish("onPaymentCancel");
    }
    window.addEventListener("message", onMessage);
    var watch = setInterval(function () { if (w.closed) finish("onPaymentCancel"); }, 500);
  }
  window.tazapay = window.tazapay || {};
  window.tazapay.checkout = checkout;
})();
