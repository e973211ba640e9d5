// The review UI's keyboard: one key per decision on a result page (see the page's key list).
// Each key clicks the element that carries it in `data-key`, so a key does exactly what its
// button or link does (and nothing where the page has none, such as a read-only key's view).
"use strict";

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const target = event.target;
  if (target instanceof HTMLElement && target.matches("input, textarea, select")) {
    if (event.key === "Escape") target.blur();
    return;
  }
  if (event.key === "n") {
    const notes = document.getElementById("notes");
    if (notes) {
      event.preventDefault();
      notes.focus();
    }
    return;
  }
  const key = { ArrowRight: "j", ArrowLeft: "k" }[event.key] || event.key;
  const element = document.querySelector(`[data-key="${CSS.escape(key)}"]`);
  if (element && !element.disabled) {
    event.preventDefault();
    element.click();
  }
});

// Pages of runs that are still going reload themselves every few seconds.
const refresh = document.querySelector("[data-refresh]");
if (refresh) {
  setTimeout(() => window.location.reload(), Number(refresh.dataset.refresh) * 1000);
}
