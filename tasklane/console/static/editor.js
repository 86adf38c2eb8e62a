// The task editor's enhancements over a form that works without them: each textarea.code becomes
// a CodeMirror editor (line numbers, highlighting in its data-mode: shell, python, yaml; it writes
// back to the textarea when the form is submitted), and rows of key/value or list inputs get an
// "Add a row" button that copies the last row, emptied.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("editor");
  if (!form) return;
  if (window.CodeMirror) {
    for (const area of form.querySelectorAll("textarea.code")) {
      const editor = CodeMirror.fromTextArea(area, {
        lineNumbers: true,
        mode: area.dataset.mode || "yaml",
        indentUnit: 2,
        viewportMargin: Infinity,
        readOnly: area.matches(":disabled") ? "nocursor" : false,
      });
      editor.getWrapperElement().dataset.for = area.name;
      editor.on("change", () => editor.save());
    }
  }
  const label = form.dataset.addLabel || "+";
  for (const rows of form.querySelectorAll("[data-rows]")) {
    if (rows.closest("fieldset:disabled")) continue;
    const add = document.createElement("button");
    add.type = "button";
    add.className = "add-row";
    add.textContent = label;
    add.addEventListener("click", () => {
      const last = rows.querySelector(".row:last-of-type");
      const copy = last.cloneNode(true);
      for (const input of copy.querySelectorAll("input")) input.value = "";
      rows.appendChild(copy);
      copy.querySelector("input").focus();
    });
    rows.after(add);
  }
});
