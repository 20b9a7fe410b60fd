/* PeepoPay widget, payment step: the Stripe Payment Element on the tradie's account (real
   mode) or the Stripe emulator's demo card form in an iframe (demo mode). Once paid, on to the
   confirmation step, which asks the server to check with Stripe. */
(function () {
  var box = document.getElementById("payment");
  if (!box) return;
  var data = function (name) { return box.getAttribute("data-" + name); };
  var confirmUrl = data("confirm-url");
  function done() { window.location.assign(confirmUrl); }

  if (data("mode") === "demo") {
    // Only the emulator's own frame, about this PaymentIntent, may move us on.
    window.addEventListener("message", function (event) {
      var message = event.data || {};
      if (event.origin !== data("frame-origin")) return;
      if (message.type !== "peepopay:stripe-emulator" || message.paymentIntent !== data("payment-intent")) return;
      if (message.status === "succeeded" || message.status === "processing") done();
    });
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
