/* The tradie's colour on the customer's pages and receipts: read from <html data-brand> and set
   as --brand through the CSSOM, which the style-src 'self' policy allows (an inline <style> or
   style="" it refuses). Loaded without defer so the first paint already has it. */
(function () {
  var root = document.documentElement, colour = root.getAttribute("data-brand");
  if (colour && /^#[0-9a-f]{6}$/i.test(colour)) root.style.setProperty("--brand", colour);
})();
