/* PeepoPay widget: move focus to each new step, report errors, and tell the embedding page our
   height (only to the origin the loader passed, never to any other). */
(function () {
  var doc = document, root = doc.documentElement;
  var parentOrigin = root.getAttribute("data-parent-origin");
  var framed = window.parent !== window;
  var last = 0;

  function report() {
    if (!framed || !parentOrigin) return;
    var height = Math.ceil(doc.body.getBoundingClientRect().height);
    if (height !== last) {
      last = height;
      window.parent.postMessage({ type: "peepopay:height", height: height }, parentOrigin);
    }
  }

  function step() { return doc.getElementById("step"); }

  // A new step: the loader brings the frame's top back into view if the page was scrolled
  // past it (after "Continue to payment" at the foot of a long step, say).
  function stepShown() {
    if (framed && parentOrigin) window.parent.postMessage({ type: "peepopay:step" }, parentOrigin);
  }

  // The next step most customers take (a form marked data-prefetch: the day step's "Next
  // available") is asked for as soon as its form shows, with the very GET the click would
  // send; the click then swaps that answer in without waiting a round trip (or waits for the
  // request already under way). Only a 200 less than a minute old is used; otherwise the click
  // asks the server as usual. (README, "The browser".)
  var ahead = null;

  function params(url) {
    var u = new URL(url, location.href), list = [];
    u.searchParams.forEach(function (value, name) { list.push(name + "=" + value); });
    return u.pathname + "?" + list.sort().join("&");
  }

  function prefetch() {
    ahead = null;
    var form = doc.querySelector("form[data-prefetch]");
    var button = form && form.querySelector("button[name]");
    if (!button || form.method !== "get" || !window.fetch) return;
    var data = new FormData(form);
    data.append(button.name, button.value);
    var url = form.action + "?" + new URLSearchParams(data);
    var answer = fetch(url, { headers: { "HX-Request": "true" } }).then(function (r) {
      return r.status === 200 ? r.text() : null;
    }, function () { return null; });
    ahead = { key: params(url), url: url, at: Date.now(), answer: answer };
  }

  doc.addEventListener("htmx:beforeRequest", function (event) {
    var taken = ahead, detail = event.detail;
    if (!taken || detail.requestConfig.verb !== "get" || Date.now() - taken.at > 60000) return;
    if (params(detail.pathInfo.finalRequestPath) !== taken.key) return;
    ahead = null;
    event.preventDefault();
    step().setAttribute("aria-busy", "true");
    taken.answer.then(function (html) {
      step().removeAttribute("aria-busy");
      if (html === null) {
        htmx.ajax("GET", taken.url, { target: step(), swap: "innerHTML" });
      } else {
        step().replaceChildren();
        htmx.swap(step(), html, { swapStyle: "innerHTML" });
      }
    });
  });
  doc.addEventListener("htmx:beforeRequest", function (event) {
    if (!event.defaultPrevented) step().setAttribute("aria-busy", "true");
  });
  doc.addEventListener("htmx:afterRequest", function () { step().removeAttribute("aria-busy"); });
  // htmx releases every element it swaps out one by one (two events each, and a search up the
  // tree for extensions): on a phone that was a third of a step's swap (README, "The browser").
  // A step holds nothing htmx must release (no triggers of its own, no polling, no out-of-band
  // parts), so the old step goes in one call just before htmx puts the new one in.
  doc.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.shouldSwap && event.detail.target === step()) step().replaceChildren();
  });
  doc.addEventListener("htmx:afterSettle", function () {
    var heading = doc.getElementById("step-title");
    if (heading) heading.focus();
    report();
    stepShown();
    prefetch();
  });
  doc.addEventListener("htmx:sendError", function () {
    var box = doc.createElement("p");
    box.className = "pp-alert";
    box.setAttribute("role", "alert");
    box.textContent = "We couldn't reach the booking service. Check your connection and try again.";
    step().prepend(box);
  });

  // Photo uploads: show how far the upload has got.
  doc.addEventListener("htmx:xhr:progress", function (event) {
    var form = event.target.closest && event.target.closest("form");
    var bar = form && form.querySelector("progress");
    if (bar && event.detail.lengthComputable) {
      bar.hidden = false;
      bar.value = Math.round((event.detail.loaded * 100) / event.detail.total);
    }
  });

  if (window.ResizeObserver) new ResizeObserver(report).observe(doc.body);
  window.addEventListener("load", function () { report(); stepShown(); });
  report();
  prefetch();
  // Shown on a site the tradie hasn't allowed: the loader there logs which origin to add.
  if (framed && parentOrigin && root.hasAttribute("data-blocked")) {
    window.parent.postMessage({ type: "peepopay:blocked" }, parentOrigin);
  }
})();
