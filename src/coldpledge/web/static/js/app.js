// Shared page behaviour. An action refused by the server (4xx) answers with an error fragment;
// it goes into the form's own error box, so the row or section the form would have replaced
// stays as it was and the person sees why, in place.
(function () {
  "use strict";
  document.addEventListener("htmx:beforeSwap", function (event) {
    const status = event.detail.xhr.status;
    const source = event.detail.requestConfig && event.detail.requestConfig.elt;
    const form = source && (source.closest("form") || source);
    const box = form && form.querySelector("[data-errors]");
    if (status >= 400 && box) {
      box.innerHTML = event.detail.serverResponse;
      event.detail.shouldSwap = false;
    } else if (status < 400 && box) {
      box.innerHTML = "";
    }
  });

  // One header menu open at a time; a click elsewhere closes it.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.removeAttribute("open");
    });
  });
})();
