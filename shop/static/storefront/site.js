// Small progressive touches; every page works without this script.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // The currency and deliver-to switches go as soon as a choice is picked from the
  // list; their button is for browsers without this script. Arrow keys on a closed
  // list change the choice one step at a time, and leaving the page at the first step
  // would keep a keyboard user from the others (WCAG 3.2.2): a choice made from the
  // keyboard shows the button again, and Enter sends it.
  document.querySelectorAll("form.switch").forEach(function (form) {
    var select = form.querySelector("select");
    var button = form.querySelector("button[type=submit]");
    if (!select || !button) return;
    var shown = select.value;
    var fromKeyboard = false;
    button.hidden = true;
    select.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && select.value !== shown) {
        event.preventDefault();
        form.submit();
      } else if (event.key !== "Tab" && event.key !== "Shift") {
        fromKeyboard = true;
      }
    });
    select.addEventListener("pointerdown", function () { fromKeyboard = false; });
    select.addEventListener("change", function () {
      if (fromKeyboard) {
        button.hidden = false;
      } else {
        form.submit();
      }
    });
  });

  // Keep the quantity a whole number of at least 1 before the form goes.
  document.querySelectorAll("form.add-to-cart").forEach(function (form) {
    form.addEventListener("submit", function () {
      var quantity = form.querySelector("input[name=quantity]");
      if (!quantity) return;
      var value = parseInt(quantity.value, 10);
      quantity.value = isNaN(value) || value < 1 ? "1" : String(value);
    });
  });
})();
