// Small progressive touches; every page works without this script.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

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
