// The browser's zone, for the server to show times in (cookie `tasklane_tz`, read by
// `Page.zone`): set only when it differs, so it costs nothing after the first page.
(() => {
  let zone = "";
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch (_) {
    return;
  }
  if (!/^[A-Za-z0-9_+\-\/]{1,64}$/.test(zone)) return;
  if (document.cookie.split("; ").includes("tasklane_tz=" + zone)) return;
  document.cookie = `tasklane_tz=${zone}; path=/; max-age=31536000; samesite=lax`;
})();

// The task table: a select-all box for the rows' checkboxes, and a question before a batch
// button that asks one (Delete).
document.addEventListener("change", (event) => {
  if (event.target.id !== "select-all") return;
  for (const box of document.querySelectorAll('#task-rows input[name="task"]')) box.checked = event.target.checked;
});
document.addEventListener("submit", (event) => {
  const asking = event.submitter && event.submitter.dataset.confirm;
  if (asking && !window.confirm(asking)) event.preventDefault();
});

// The live log tail of a run's page: the server's events (`line`, then one `end` or `failure`)
// appended as text as they come, without reloading; closed at the end, so the browser does not
// reconnect and replay the log.
document.addEventListener("DOMContentLoaded", () => {
  const log = document.getElementById("log");
  if (!log || !log.dataset.stream || !window.EventSource) return;
  const status = document.getElementById("log-status");
  const source = new EventSource(log.dataset.stream);
  source.addEventListener("line", (event) => {
    const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    log.append(event.data + "\n");
    if (atBottom) log.scrollTop = log.scrollHeight;
  });
  const finish = (text) => {
    source.close();
    if (status) status.textContent = text;
    log.dataset.ended = "true";
  };
  source.addEventListener("end", (event) => {
    const ended = JSON.parse(event.data);
    for (const [id, text] of [["run-state", ended.state], ["run-start", ended.start], ["run-end", ended.end]]) {
      const field = document.getElementById(id);
      if (field) field.textContent = text;
    }
    // An ended run cannot be cancelled; its timeline and result are fetched now, not at the next poll.
    const cancel = document.getElementById("cancel-form");
    if (cancel) cancel.remove();
    const details = document.getElementById("run-details");
    const url = details && details.getAttribute("hx-get");
    if (url && window.htmx) window.htmx.ajax("GET", url, { target: details, swap: "outerHTML" });
    finish(status ? status.dataset.ended : "");
  });
  source.addEventListener("failure", (event) => finish(event.data));
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED && status) status.textContent = status.dataset.lost;
  };
});
