/* PeepoPay loader: sizes the widget's iframe of the embed code to its content, or, for
   <script src=".../embed.js" data-tradie="SLUG" async>, makes that iframe after the tag
   (optional: data-color="RRGGBB", data-title). Defines one global, window.PeepoPay. */
(function (w, d) {
  var api = w.PeepoPay || (w.PeepoPay = { frames: [] });
  if (api.scan) return api.scan();
  var DONE = "data-peepopay-mounted";

  // Ask the frame for its size as each page of it loads, and now if it already has.
  function adopt(f, origin) {
    if (f.getAttribute(DONE)) return;
    f.setAttribute(DONE, "1");
    api.frames.push({ frame: f, origin: origin });
    function ask() {
      var win = f.contentWindow;
      if (win) win.postMessage({ type: "peepopay:hello" }, origin);
    }
    f.addEventListener("load", ask);
    try {
      f.contentWindow.document; // still the host's blank page
    } catch (e) {
      ask();
    }
  }

  function mount(s) {
    var slug = s.getAttribute("data-tradie"), origin = new URL(s.src, d.baseURI).origin;
    if (!slug || s.getAttribute(DONE)) return;
    s.setAttribute(DONE, "1");
    var q = "?origin=" + encodeURIComponent(location.origin);
    var color = s.getAttribute("data-color");
    if (color) q += "&color=" + encodeURIComponent(color);
    var f = d.createElement("iframe");
    f.src = origin + "/book/" + encodeURIComponent(slug) + q;
    f.title = s.getAttribute("data-title") || "Book online";
    f.style.cssText = "display:block;width:100%;min-width:280px;height:640px;border:0";
    f.setAttribute("allow", "payment");
    s.parentNode.insertBefore(f, s.nextSibling);
    adopt(f, origin);
  }

  function scan() {
    var s = d.getElementsByTagName("script"), f = d.getElementsByTagName("iframe");
    var mine = {}, i, u;
    for (i = 0; i < s.length; i++) {
      if (!/\/embed\.js(\?|$)/.test(s[i].src)) continue;
      mine[new URL(s[i].src, d.baseURI).origin] = 1;
      mount(s[i]);
    }
    for (i = 0; i < f.length; i++) {
      if (!f[i].src) continue;
      u = new URL(f[i].src, d.baseURI);
      if (mine[u.origin] === 1 && /^\/book\//.test(u.pathname)) adopt(f[i], u.origin);
    }
  }

  // Only the widget's own origin may resize its frame, and only the frame that sent it.
  w.addEventListener("message", function (e) {
    var m = e.data;
    if (!m) return;
    for (var i = 0; i < api.frames.length; i++) {
      var x = api.frames[i];
      if (x.frame.contentWindow !== e.source || x.origin !== e.origin) continue;
      if (m.type === "peepopay:height" && typeof m.height === "number") {
        x.frame.style.height = Math.max(120, Math.min(m.height, 20000)) + "px";
      } else if (m.type === "peepopay:step" && x.frame.getBoundingClientRect().top < 0) {
        x.frame.scrollIntoView();
      } else if (m.type === "peepopay:blocked" && !x.warned && w.console) {
        x.warned = 1;
        console.warn("PeepoPay: this site isn't allowed to show the booking widget. Add " +
          location.origin + " to the allowed websites (PeepoPay dashboard: Settings, Embedding).");
      }
    }
  });

  api.mount = mount;
  api.scan = scan;
  scan();
  // Placed above the frame: it is there once the page is parsed.
  if (d.readyState === "loading") d.addEventListener("DOMContentLoaded", scan);
})(window, document);
