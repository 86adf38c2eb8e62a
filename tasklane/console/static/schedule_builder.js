// The schedule builder's clicks that need no server: add or remove a schedule or a time, show the
// parts of the chosen kind, tell the server the browser's zone. Every change then reaches the
// server's preview through htmx (the #sb-fields element's triggers); no schedule math here.
(() => {
  if (window.tasklaneScheduleBuilder) return; // the partial may be included more than once
  window.tasklaneScheduleBuilder = true;

  const changed = () => {
    const fields = document.getElementById("sb-fields");
    if (fields && window.htmx) window.htmx.trigger(fields, "sb-changed");
  };

  const setViewerZone = () => {
    const input = document.getElementById("sb-viewer-tz");
    if (!input || input.value) return;
    try {
      input.value = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    } catch (_error) {
      input.value = "";
    }
  };

  const nextKey = () => {
    const keys = [...document.querySelectorAll("#sb-schedules .sb-one")].map((one) => Number(one.dataset.key));
    return keys.length ? Math.max(...keys) + 1 : 0;
  };

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button || !button.closest(".schedule-builder")) return;
    if (button.id === "sb-add") {
      const template = document.getElementById("sb-new");
      const holder = document.createElement("div");
      holder.innerHTML = template.innerHTML.replaceAll("__I__", String(nextKey()));
      const added = holder.querySelector(".sb-one");
      document.getElementById("sb-schedules").append(added);
      changed();
    } else if (button.classList.contains("sb-remove")) {
      button.closest(".sb-one").remove();
      changed();
    } else if (button.classList.contains("sb-time-add")) {
      const times = button.closest(".sb-row").querySelector(".sb-times");
      const row = times.querySelector(".sb-time").cloneNode(true);
      row.querySelector("input").value = "";
      times.append(row);
      row.querySelector("input").focus();
    } else if (button.classList.contains("sb-time-remove")) {
      const row = button.closest(".sb-time");
      if (row.parentElement.querySelectorAll(".sb-time").length > 1) row.remove();
      else row.querySelector("input").value = "";
      changed();
    }
  });

  document.addEventListener("change", (event) => {
    const select = event.target.closest(".sb-kind");
    if (select) select.closest(".sb-one").dataset.kind = select.value;
  });

  document.addEventListener("submit", (event) => {
    // The standalone page's form saves nothing: Enter in a field must not reload the page.
    if (event.target.dataset.scheduleStandalone) event.preventDefault();
  });

  document.addEventListener("htmx:configRequest", (event) => {
    setViewerZone();
    const zone = document.getElementById("sb-viewer-tz");
    const parameters = event.detail.parameters;
    // A request whose values were gathered before the zone was known still carries it.
    if (zone && zone.value && parameters && !parameters["sb.viewer_tz"] && event.detail.path.includes("/schedules/")) {
      if (parameters instanceof FormData) parameters.set("sb.viewer_tz", zone.value);
      else parameters["sb.viewer_tz"] = zone.value;
    }
  });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setViewerZone);
  else setViewerZone();
})();
