/* Calendar: a sideways swipe follows the previous or next day link the page already has
   (data-swipe-prev / data-swipe-next on #calendar). Without this file the links do the same. */
(function () {
  "use strict";
  var start = null;

  document.addEventListener("touchstart", function (event) {
    var touch = event.changedTouches[0];
    start = event.target.closest && event.target.closest("#calendar") && touch
      ? { x: touch.clientX, y: touch.clientY } : null;
  }, { passive: true });

  document.addEventListener("touchend", function (event) {
    if (!start) { return; }
    var touch = event.changedTouches[0];
    var dx = touch.clientX - start.x;
    var dy = touch.clientY - start.y;
    start = null;
    // A clear sideways movement only: vertical scrolling must never change the day.
    if (Math.abs(dx) < 60 || Math.abs(dx) < 2 * Math.abs(dy)) { return; }
    var calendar = document.getElementById("calendar");
    var id = calendar && calendar.getAttribute(dx < 0 ? "data-swipe-next" : "data-swipe-prev");
    var link = id && document.getElementById(id);
    if (link) { link.click(); }
  }, { passive: true });
})();
