// The template form's enhancement over a textarea that works without it: the YAML becomes a
// CodeMirror editor (line numbers, YAML highlighting) that writes back to the textarea as it changes.
document.addEventListener("DOMContentLoaded", () => {
  const area = document.getElementById("template-yaml");
  if (!area || !window.CodeMirror) return;
  const editor = CodeMirror.fromTextArea(area, {
    lineNumbers: true,
    mode: "yaml",
    indentUnit: 2,
    viewportMargin: Infinity,
  });
  editor.getWrapperElement().dataset.for = area.name;
  editor.on("change", () => editor.save());
});
