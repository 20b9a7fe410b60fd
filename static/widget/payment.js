/* PeepoPay widget, payment step: the Stripe Payment Element on the tradie's account (real
   mode) or the Stripe emulator's demo card form in an iframe (demo mode). Once paid, on to the
   confirmation step, which asks the server to check with Stripe. The hold counts down; when
   it runs out, the confirmation step says so. */
(function () {
  var box = document.getElementById("payment");
  if (!box) return;
  var data = function (name) { return box.getAttribute("data-" + name); };
  var confirmUrl = data("confirm-url");
  function done() { window.location.assign(confirmUrl); }

  // The countdown counts from the server's figure, so a wrong clock on the phone can't skew it.
  var clock = document.querySelector(".pp-countdown");
  if (clock) {
    var ends = Date.now() + 1000 * Number(clock.getAttribute("data-seconds-left"));
    var tick = function () {
      var left = Math.max(0, Math.round((ends - Date.now()) / 1000));
      var hours = Math.floor(left / 3600), minutes = Math.floor(left / 60) % 60, seconds = left % 60;
      // A deposit asked for by link may have days to go: hours and minutes, not 2879:59.
      clock.textContent = hours ? hours + " h " + minutes + " min"
        : minutes + ":" + (seconds < 10 ? "0" : "") + seconds;
      if (left === 0) { window.clearInterval(timer); done(); }
    };
    var timer = window.setInterval(tick, 1000);
    tick();
  }

  if (data("mode") === "demo") {
    var frame = box.querySelector("iframe");
    // Only the emulator's own frame, about this PaymentIntent, may resize it or move us on.
    window.addEventListener("message", function (event) {
      var message = event.data || {};
      if (event.origin !== data("frame-origin") || event.source !== frame.contentWindow) return;
      if (message.type === "peepopay:stripe-emulator-height" && typeof message.height === "number") {
        frame.style.height = Math.max(100, Math.min(message.height, 3000)) + "px";
        return;
      }
      if (message.type !== "peepopay:stripe-emulator" || message.paymentIntent !== data("payment-intent")) return;
      if (message.status === "succeeded" || message.status === "processing") done();
    });
    // The form may have told its height before this script listened: ask it again, once it
    // is there. Still loading, the frame is our own about:blank, and a message aimed at the
    // form's origin would only be refused with a console warning; it tells once it loads.
    var loaded = true;
    try {
      loaded = frame.contentWindow.location.href !== "about:blank";
    } catch (e) {
      // Another origin's page: the form has loaded.
    }
    if (loaded) {
      frame.contentWindow.postMessage({ type: "peepopay:stripe-emulator-measure" }, data("frame-origin"));
    }
    return;
  }

  if (data("mode") !== "stripe" || typeof window.Stripe !== "function") return;
  var stripe = window.Stripe(data("publishable-key"), { stripeAccount: data("account") });
  var elements = stripe.elements({ clientSecret: data("client-secret") });
  elements.create("payment").mount("#payment-element");
  var form = document.getElementById("payment-form");
  var error = document.getElementById("payment-error");
  var button = form.querySelector("button");
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    button.disabled = true;
    error.hidden = true;
    stripe.confirmPayment({
      elements: elements,
      redirect: "if_required",
      confirmParams: { return_url: new URL(confirmUrl, window.location.href).href }
    }).then(function (result) {
      if (result.error) {
        // Stripe's own words: "Your card was declined." and the like.
        error.textContent = result.error.message;
        error.hidden = false;
        button.disabled = false;
        return;
      }
      done();
    });
  });
})();
