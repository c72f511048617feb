// vigil's console: the little that needs a script. Served from /ui/assets, never inline (the
// Content-Security-Policy allows no other script). Every page works without it.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Select every alert on the page.
  const all = document.getElementById("select-all");
  if (all) {
    all.addEventListener("change", () => {
      for (const box of document.querySelectorAll("input.pick")) box.checked = all.checked;
    });
  }
  // Copy a field's value.
  for (const button of document.querySelectorAll("button.copy")) {
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(button.dataset.copy || "");
        button.textContent = "copied";
        button.classList.add("done");
      } catch (_) {
        button.textContent = "select it";
      }
    });
  }
  // Ask before running a rule now.
  const run = document.getElementById("run-form");
  if (run) {
    run.addEventListener("submit", (event) => {
      if (!window.confirm("Run this rule now?")) event.preventDefault();
    });
  }
});
