/* PeepoPay loader: <script src="https://HOST/embed.js" data-tradie="SLUG" async></script>
   puts the booking widget in an iframe right after the tag and sizes it to its content.
   Optional: data-color="RRGGBB", data-title. Defines one global, window.PeepoPay. */
(function (w, d) {
  var api = w.PeepoPay || (w.PeepoPay = { frames: [] });
  if (api.mount) return api.scan();

  function mount(script) {
    if (script.getAttribute("data-peepopay-mounted")) return;
    script.setAttribute("data-peepopay-mounted", "1");
    var base = new URL(script.src, d.baseURI).origin;
    var slug = script.getAttribute("data-tradie");
    if (!slug) return;
    var q = "?origin=" + encodeURIComponent(location.origin);
    var color = script.getAttribute("data-color");
    if (color) q += "&color=" + encodeURIComponent(color);
    var f = d.createElement("iframe");
    f.src = base + "/book/" + encodeURIComponent(slug) + q;
    f.title = script.getAttribute("data-title") || "Book online";
    f.style.cssText = "display:block;width:100%;min-width:280px;height:640px;border:0";
    f.setAttribute("allow", "payment");
    api.frames.push({ frame: f, origin: base });
    script.parentNode.insertBefore(f, script.nextSibling);
  }

  function scan() {
    var s = d.querySelectorAll("script[data-tradie]");
    for (var i = 0; i < s.length; i++) if (/\/embed\.js(\?|$)/.test(s[i].src)) mount(s[i]);
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
      } else if (m.type === "peepopay:blocked" && w.console) {
        console.warn("PeepoPay: this site isn't allowed to show the booking widget. Add " +
          location.origin + " to the allowed websites (PeepoPay dashboard: Settings, Embedding).");
      }
    }
  });

  api.mount = mount;
  api.scan = scan;
  scan();
})(window, document);
