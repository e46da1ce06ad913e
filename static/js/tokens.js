// Copy a freshly made token to the clipboard (the only time it is shown).
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source) return;
  navigator.clipboard.writeText(source.dataset.token || source.textContent).then(
    () => { button.textContent = "Copied"; },
    () => { button.textContent = "Select and copy it by hand"; },
  );
});
