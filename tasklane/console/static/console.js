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
    finish(status ? status.dataset.ended : "");
  });
  source.addEventListener("failure", (event) => finish(event.data));
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED && status) status.textContent = status.dataset.lost;
  };
});
