/* PeepoPay widget: move focus to each new step, report errors, and tell the embedding page our
   height (only to the parent's origin, never to any other). */
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
  // Off to the payment step as a whole page: the address left behind becomes the review step's
  // (the server names it), so Back from payment shows the review with the details kept.
  doc.addEventListener("htmx:beforeOnLoad", function (event) {
    var xhr = event.detail.xhr, review = xhr && xhr.getResponseHeader("PeepoPay-Review-URL");
    if (review && xhr.getResponseHeader("HX-Redirect")) history.replaceState(null, "", review);
  });
  // htmx releases every element it swaps out one by one (two events each, and a search up the
  // tree for extensions): on a phone that was a third of a step's swap (README, "The browser").
  // A step holds nothing htmx must release (no triggers of its own, no polling, no out-of-band
  // parts), so the old step goes in one call just before htmx puts the new one in.
  doc.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.shouldSwap && event.detail.target === step()) step().replaceChildren();
  });
  // The day step's calendar as an ARIA grid: one tab stop (the suggested day), the arrow keys
  // move a day or a week, Home and End to the week's first and last day; days without times
  // (not buttons) are passed over. Without JavaScript it stays a table of buttons.
  var MOVES = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: 7, ArrowUp: -7 };

  function dayGrid() {
    var grid = doc.querySelector("table.pp-cal"), days = grid ? grid.querySelectorAll("tbody button") : [];
    if (!days.length) return;
    grid.setAttribute("role", "grid");
    var current = grid.querySelector("tbody button[aria-current]") ||
      grid.querySelector("tbody button.pp-first") || days[0];
    days.forEach(function (day) { day.tabIndex = day === current ? 0 : -1; });
  }

  doc.addEventListener("keydown", function (event) {
    var from = event.target, body = from.closest && from.closest("table.pp-cal tbody");
    if (!body || from.tagName !== "BUTTON" || event.altKey || event.ctrlKey || event.metaKey) return;
    var cells = Array.prototype.slice.call(body.querySelectorAll("td"));
    var at = cells.indexOf(from.parentNode), week = at - (at % 7), order = [], i;
    if (MOVES[event.key]) {
      for (i = at + MOVES[event.key]; i >= 0 && i < cells.length; i += MOVES[event.key]) order.push(i);
    } else if (event.key === "Home") {
      for (i = week; i < at; i++) order.push(i);
    } else if (event.key === "End") {
      for (i = week + 6; i > at; i--) order.push(i);
    } else {
      return;
    }
    event.preventDefault();
    for (i = 0; i < order.length; i++) {
      var to = cells[order[i]] && cells[order[i]].querySelector("button");
      if (to) {
        from.tabIndex = -1;
        to.tabIndex = 0;
        to.focus();
        return;
      }
    }
  });

  doc.addEventListener("htmx:afterSettle", function () {
    var heading = doc.getElementById("step-title");
    if (heading) heading.focus();
    dayGrid();
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

  // A step reached by a whole-page load from another step of this widget (the payment step,
  // which brings its own policy) starts at its heading, as a swapped-in step does. Opened from
  // anywhere else (the tradie's site, the dashboard's preview) it takes no focus from the page.
  var heading = doc.getElementById("step-title");
  var widgetPath = location.pathname.split("/").slice(0, 3).join("/") + "/";
  var from = doc.referrer ? new URL(doc.referrer) : null;
  if (heading && from && from.origin === location.origin &&
      (from.pathname + "/").indexOf(widgetPath) === 0) {
    heading.focus({ preventScroll: true });
  }
  dayGrid();
  // The loader asks for our size when it adopts the frame, before or after this page loaded.
  // Only our parent may ask, and the origin it asks from (the browser's word, not a claim in
  // the URL) is where our messages go from then on: the embed code's iframe carries none.
  window.addEventListener("message", function (event) {
    var m = event.data;
    if (!framed || event.source !== window.parent || !m || m.type !== "peepopay:hello") return;
    parentOrigin = event.origin;
    last = 0;
    report();
    if (root.hasAttribute("data-blocked")) {
      window.parent.postMessage({ type: "peepopay:blocked" }, parentOrigin);
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
