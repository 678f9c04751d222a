// Checkout and order pages: small improvements over forms that work without script.
//
// - The customs identity fieldset is shown only for destinations whose customs need it
//   (the page lists them in data-customs-countries).
// - When the destination or the delivery (door or pickup point) changes, the summary
//   (delivery choice, shipments, shipping, duties, total) is fetched again from
//   /checkout/summary and swapped in; without script the "Update totals" button does
//   the same by sending the form back.
// - "Place order" is sent once, however often it is pressed (the server's one-time key
//   makes a repeat land on the same order anyway).
// - On an order paid by card, Stripe's Payment Element is mounted when Stripe.js is on
//   the page.
// - On an order waiting for a provider's confirmation (a QR code scanned, a shopper back
//   from the provider's page), the order's state is asked every few seconds and the page
//   reloads when it changes; without script, the "Check again" link does the same.
(function () {
  "use strict";

  function customsCountries(form) {
    return (form.dataset.customsCountries || "").split(/\s+/).filter(Boolean);
  }

  function showCustomsFor(form, country) {
    var fieldset = document.getElementById("customs-identity");
    if (!fieldset) return;
    var needed = customsCountries(form).indexOf(country) !== -1;
    fieldset.hidden = !needed;
    fieldset.querySelectorAll("input").forEach(function (input) {
      input.required = needed;
      input.setAttribute("aria-required", needed ? "true" : "false");
    });
  }

  // Only the answer to the latest change is shown: an earlier, slower answer is stale.
  var latestRequest = 0;

  function announce(text) {
    // A live region announces a change of its text: clear it first, so the same words
    // ("The totals are updated.") are read again after every change, not only the first.
    var status = document.getElementById("summary-status");
    if (!status) return;
    status.textContent = "";
    window.setTimeout(function () {
      status.textContent = text || "";
    }, 100);
  }

  function refreshSummary(form) {
    var summary = document.getElementById("checkout-summary");
    if (!summary) return;
    var query = new URLSearchParams();
    ["country", "region", "postal_code", "city", "delivery_point", "payment_adapter"].forEach(function (name) {
      var field = form.elements.namedItem(name);
      if (field && field.value) query.set(name, field.value);
    });
    var method = form.querySelector('input[name="delivery_method"]:checked');
    if (method) query.set("delivery_method", method.value);
    var request = ++latestRequest;
    summary.setAttribute("aria-busy", "true");
    fetch(form.dataset.summaryUrl + "?" + query.toString(), {
      credentials: "same-origin",
      headers: { Accept: "text/html" },
    })
      .then(function (response) {
        if (!response.ok) throw new Error("summary " + response.status);
        return response.text();
      })
      .then(function (html) {
        if (request !== latestRequest) return;
        var holder = document.createElement("div");
        holder.innerHTML = html;
        var fresh = holder.querySelector("#checkout-summary");
        var current = document.getElementById("checkout-summary");
        if (fresh && current) current.replaceWith(fresh);
        // The ways to pay depend on the destination: the offered ones come along.
        var freshPayment = holder.querySelector("#payment");
        var payment = document.getElementById("payment");
        if (freshPayment && payment) payment.replaceWith(freshPayment);
        var status = document.getElementById("summary-status");
        announce(status && status.dataset.updatedText);
      })
      .catch(function () {
        if (request !== latestRequest) return;
        // The totals stay as they were; "Update totals" still works.
        var stale = document.getElementById("checkout-summary");
        if (stale) stale.removeAttribute("aria-busy");
        var update = document.getElementById("update-totals");
        if (update) update.hidden = false;
        var status = document.getElementById("summary-status");
        announce(status && status.dataset.failedText);
      });
  }

  function setUpCheckout(form) {
    var country = form.elements.namedItem("country");
    var update = document.getElementById("update-totals");
    if (update) update.hidden = true;
    if (country) {
      showCustomsFor(form, country.value);
      country.addEventListener("change", function () {
        showCustomsFor(form, country.value);
        refreshSummary(form);
      });
    }
    ["region", "postal_code", "city"].forEach(function (name) {
      var field = form.elements.namedItem(name);
      if (field) field.addEventListener("change", function () { refreshSummary(form); });
    });
    // Door or pickup point live in the summary, which is swapped: listen on the form.
    form.addEventListener("change", function (event) {
      var name = event.target && event.target.name;
      if (name === "delivery_method" || name === "delivery_point") refreshSummary(form);
    });
    var sent = false;
    form.addEventListener("submit", function (event) {
      var submitter = event.submitter;
      if (submitter && submitter.id === "update-totals") return;
      if (sent) {
        event.preventDefault();
        return;
      }
      sent = true;
      var button = document.getElementById("place-order");
      if (button) button.setAttribute("aria-disabled", "true");
    });
    var errors = document.getElementById("error-summary");
    if (errors) errors.focus();
  }

  function setUpStripe(form) {
    if (typeof window.Stripe !== "function") return;
    var stripe = window.Stripe(form.dataset.publishableKey, {
      locale: document.documentElement.lang || "auto",
    });
    var elements = stripe.elements({ clientSecret: form.dataset.clientSecret });
    var paymentElement = elements.create("payment");
    paymentElement.mount("#payment-element");
    var button = document.getElementById("pay-button");
    var message = document.getElementById("payment-message");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (button) button.disabled = true;
      stripe
        .confirmPayment({ elements: elements, confirmParams: { return_url: form.dataset.returnUrl } })
        .then(function (result) {
          // Success leaves the page (return_url); only a failure comes back here.
          if (result && result.error) {
            message.textContent = result.error.message || form.dataset.errorText;
            if (button) button.disabled = false;
          }
        });
    });
  }

  function pollOrderState(section) {
    var url = section.dataset.stateUrl;
    var shown = section.dataset.state;
    var tries = 0;
    function ask() {
      tries += 1;
      if (tries > 120) return; // ten minutes: the link is still there
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          return response.ok ? response.json() : null;
        })
        .then(function (state) {
          if (state && state.state !== shown) {
            window.location.reload();
          } else {
            window.setTimeout(ask, 5000);
          }
        })
        .catch(function () {
          window.setTimeout(ask, 10000);
        });
    }
    window.setTimeout(ask, 5000);
  }

  function start() {
    var waiting = document.querySelector("[data-state-url]");
    if (waiting) pollOrderState(waiting);
    var checkout = document.getElementById("checkout-form");
    if (checkout) setUpCheckout(checkout);
    var stripeForm = document.getElementById("stripe-payment");
    if (stripeForm) setUpStripe(stripeForm);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
