// The evidence page's "check a package" form: the answer is a PDF to save, or, when the package
// does not verify, an error fragment to show in the form. A plain form post could not carry the
// session's CSRF header, and HTMX swaps HTML, not files; so this sends it with fetch.
(function () {
  "use strict";
  const form = document.getElementById("package-form");
  if (!form) return;
  const answer = form.querySelector(".answer");
  const errors = form.querySelector("[data-errors]");

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    answer.textContent = "";
    errors.innerHTML = "";
    let response;
    try {
      response = await fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        credentials: "same-origin",
        headers: { "X-CSRF-Token": form.dataset.csrf, "HX-Request": "true" },
      });
    } catch (error) {
      answer.textContent = form.dataset.failed;
      return;
    }
    if (!response.ok) {
      errors.innerHTML = await response.text();
      return;
    }
    const disposition = response.headers.get("Content-Disposition") || "";
    const named = /filename="([^"]+)"/.exec(disposition);
    const link = document.createElement("a");
    link.href = URL.createObjectURL(await response.blob());
    link.download = named ? named[1] : "certificate.pdf";
    document.body.appendChild(link);
    link.click();
    link.remove();
    answer.textContent = form.dataset.done;
  });
})();
