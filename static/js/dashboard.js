/* Dashboard enhancements; everything works without this file. No inline script: CSP is 'self'. */
(function () {
  "use strict";

  // Validation errors (422) and refused actions (409) come back as fragments worth showing.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    if (status === 422 || status === 409) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "sr-only";
      document.body.appendChild(area);
      area.select();
      var ok = document.execCommand("copy");
      document.body.removeChild(area);
      if (ok) { resolve(); } else { reject(new Error("copy failed")); }
    });
  }

  function enableCopyButtons(root) {
    root.querySelectorAll("button[data-copy]").forEach(function (button) {
      button.hidden = false;
      if (button.dataset.copyReady) { return; }
      button.dataset.copyReady = "1";
      var label = button.textContent;
      button.addEventListener("click", function () {
        var source = document.getElementById(button.dataset.copy);
        if (!source) { return; }
        copyText(source.value !== undefined ? source.value : source.innerText.trim()).then(function () {
          button.textContent = "Copied";
        }, function () {
          source.select();
          button.textContent = "Press Ctrl+C to copy";
        }).then(function () {
          window.setTimeout(function () { button.textContent = label; }, 2000);
        });
      });
    });
  }

  // The service form shows only the chosen deposit type's field. Without this file both show
  // (the server reads the one the type names); `hidden`, never a style: CSP is style-src 'self'.
  function showChosenDeposit() {
    var form = document.getElementById("service-form");
    if (!form) { return; }
    var chosen = form.querySelector("input[name=deposit_type]:checked");
    var type = chosen ? chosen.value : "fixed";
    var fields = { fixed: "field-deposit_amount", percentage: "field-deposit_percent" };
    Object.keys(fields).forEach(function (kind) {
      var field = document.getElementById(fields[kind]);
      if (field) { field.hidden = kind !== type; }
    });
  }

  // First run: the browser's own time zone is chosen when the list has it, unless it is only
  // UTC (a computer never told where it is), when the country's zone is; picking a country
  // says what it sets and suggests its zone.
  var NO_PLACE = /^(Etc\/|UTC$|UCT$|GMT|Universal$|Zulu$)/;

  function enableZonePicker(root) {
    var zone = root.querySelector("select[data-browser-zone='1']");
    var browserZone = window.Intl && Intl.DateTimeFormat().resolvedOptions().timeZone;
    var country = root.querySelector("select[data-country-facts]");
    var table = country ? JSON.parse(country.dataset.countryFacts) : {};
    var suggested = zone && (NO_PLACE.test(browserZone || "UTC") ?
      (table[country && country.value] || {}).zone : browserZone);
    if (suggested && zone.querySelector("option[value='" + suggested + "']")) {
      zone.value = suggested;
    }
    var facts = document.getElementById("country-facts");
    if (!country || !facts) { return; }
    country.addEventListener("change", function () {
      var f = table[country.value];
      if (!f) { return; }
      facts.textContent = "Currency " + f.currency + " · mobile numbers like " + f.phone +
        " · suggested zone " + f.zone;
      if (zone && zone.querySelector("option[value='" + f.zone + "']")) { zone.value = f.zone; }
    });
  }

  // A table wider than a phone scrolls sideways in its .table-wrap: the keyboard must be able to
  // reach and scroll it, so a wrap that overflows is a named, focusable region (WCAG 2.1.1).
  function scrollableTables(root) {
    root.querySelectorAll(".table-wrap").forEach(function (wrap) {
      if (wrap.scrollWidth <= wrap.clientWidth) {
        wrap.removeAttribute("tabindex");
        wrap.removeAttribute("role");
        return;
      }
      var heading = wrap.closest("section, .card");
      heading = heading && heading.querySelector("h1, h2, h3");
      wrap.tabIndex = 0;
      wrap.setAttribute("role", "region");
      wrap.setAttribute("aria-label", (heading ? heading.textContent.trim() + ", " : "") + "table");
    });
  }

  // A colour picker beside a hex field: each follows the other; the field is what is sent.
  function enableColourPickers(root) {
    root.querySelectorAll("input[type=color][data-colour-for]").forEach(function (picker) {
      var field = document.getElementById(picker.dataset.colourFor);
      if (!field || picker.dataset.colourReady) { return; }
      picker.dataset.colourReady = "1";
      picker.hidden = false;
      picker.addEventListener("input", function () { field.value = picker.value; });
      field.addEventListener("input", function () {
        var hex = field.value.trim().replace(/^#?/, "#").toLowerCase();
        if (/^#[0-9a-f]{3}$/.test(hex)) { hex = hex.replace(/[0-9a-f]/g, "$&$&"); }
        if (/^#[0-9a-f]{6}$/.test(hex)) { picker.value = hex; }
      });
    });
  }

  // On a phone the navigation is one strip that scrolls sideways: bring the current entry
  // into it (the strip only; the page itself does not move).
  function showCurrentEntry() {
    var strip = document.querySelector(".topbar nav");
    var current = strip && strip.querySelector("[aria-current='page']");
    if (!current || strip.scrollWidth <= strip.clientWidth) { return; }
    var entry = current.getBoundingClientRect();
    var box = strip.getBoundingClientRect();
    strip.scrollLeft += entry.left - box.left - (strip.clientWidth - entry.width) / 2;
  }

  document.addEventListener("change", function (event) {
    if (event.target.name === "deposit_type") { showChosenDeposit(); }
  });
  document.addEventListener("DOMContentLoaded", function () {
    enableCopyButtons(document);
    showChosenDeposit();
    enableZonePicker(document);
    scrollableTables(document);
    showCurrentEntry();
    enableColourPickers(document);
  });
  window.addEventListener("resize", function () { scrollableTables(document); });
  document.addEventListener("htmx:afterSettle", function (event) {
    enableCopyButtons(event.target);
    showChosenDeposit();
    enableZonePicker(event.target);
    scrollableTables(document);
    enableColourPickers(event.target);
  });
})();
