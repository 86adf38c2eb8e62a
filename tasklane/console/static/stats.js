// The stats page's charts, drawn with Chart.js from the page's JSON block (#stats-data); the
// tables beside them hold the same numbers for a reader without JavaScript.
document.addEventListener("DOMContentLoaded", () => {
  const block = document.getElementById("stats-data");
  if (!block || !window.Chart) return;
  const data = JSON.parse(block.textContent);
  const labels = data.labels;
  window.tasklaneCharts = {};
  const draw = (id, config) => {
    const canvas = document.getElementById(id);
    if (canvas) window.tasklaneCharts[id] = new Chart(canvas, config);
  };
  const common = { responsive: true, maintainAspectRatio: false, animation: false };
  draw("chart-per-day", {
    type: "bar",
    data: {
      labels: data.days,
      datasets: data.states.map((state) => ({
        label: labels.states[state],
        data: data.per_day[state],
        backgroundColor: labels.colors[state],
      })),
    },
    options: { ...common, scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: labels.runs } } } },
  });
  draw("chart-durations", {
    type: "bar",
    data: {
      labels: data.slowest.map((row) => row.task),
      datasets: [
        { label: labels.p50, data: data.slowest.map((row) => row.p50_duration), backgroundColor: "#90caf9" },
        { label: labels.p95, data: data.slowest.map((row) => row.p95_duration), backgroundColor: "#2456c7" },
      ],
    },
    options: { ...common, indexAxis: "y", scales: { x: { beginAtZero: true, title: { display: true, text: labels.seconds } } } },
  });
  draw("chart-failing", {
    type: "bar",
    data: {
      labels: data.failing.map((row) => row.task),
      datasets: [{ label: labels.failures, data: data.failing.map((row) => row.failures), backgroundColor: "#c62828" }],
    },
    options: { ...common, indexAxis: "y", scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } },
  });
});
