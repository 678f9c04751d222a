// Staff pages: buttons marked data-print open the browser's print dialog.
// A file, not an inline script: the Content-Security-Policy allows scripts
// from our own origin only.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () {
      window.print();
    });
  });
});
