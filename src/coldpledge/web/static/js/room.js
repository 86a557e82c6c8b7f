// The room page's temperature chart: one line per probe over the chosen range, the band shaded.
// Raw points up to 6 h; beyond that the API answers buckets, drawn as their time-weighted mean.
(function () {
  "use strict";
  const box = document.getElementById("room-chart");
  if (!box || !window.echarts) return;
  const status = document.getElementById("room-chart-status");
  const low = Number(box.dataset.low);
  const high = Number(box.dataset.high);
  const chart = window.echarts.init(box);
  const CHART_POINTS = 400;
  window.addEventListener("resize", () => chart.resize());

  function series(item) {
    const data = item.points.length
      ? item.points.filter((p) => !p.fault).map((p) => [p.ts, p.value])
      : item.buckets.map((b) => [b.bucket, Number(b.mean.toFixed(2))]);
    return { name: item.device_code, type: "line", showSymbol: false, data: data };
  }

  async function load(hours) {
    const end = new Date();
    const start = new Date(end.getTime() - hours * 3600 * 1000);
    // Raw points up to 6 h, minute buckets for a day, hour buckets beyond: a week of minute buckets
    // for a room of ten probes is 100,800 points, megabytes the chart cannot show anyway. Buckets
    // are merged in the database to about one a pixel of the chart's width.
    const resolution = hours <= 6 ? "raw" : hours <= 24 ? "1m" : "1h";
    const query = new URLSearchParams({
      from: start.toISOString(),
      to: end.toISOString(),
      resolution: resolution,
      points: String(CHART_POINTS),
    });
    status.textContent = "";
    box.dataset.ready = "";
    let answer;
    try {
      answer = await fetch(`/api/v1/rooms/${box.dataset.room}/telemetry?${query}`, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
    } catch (error) {
      status.textContent = box.dataset.failed;
      return;
    }
    if (!answer.ok) {
      status.textContent = box.dataset.failed;
      return;
    }
    const items = await answer.json();
    const lines = items.map(series);
    if (lines.length) {
      lines[0].markArea = {
        silent: true,
        itemStyle: { color: "rgba(19, 115, 51, 0.08)" },
        data: [[{ yAxis: low }, { yAxis: high }]],
      };
    }
    chart.setOption(
      {
        animation: false,
        tooltip: { trigger: "axis" },
        legend: { top: 0 },
        grid: { left: 48, right: 16, top: 32, bottom: 32 },
        xAxis: { type: "time" },
        yAxis: { type: "value", name: "°C", scale: true },
        series: lines,
      },
      true,
    );
    box.dataset.points = String(lines.reduce((sum, line) => sum + line.data.length, 0));
    box.dataset.ready = "1";
    if (!lines.length || box.dataset.points === "0") status.textContent = box.dataset.empty;
  }

  document.querySelectorAll("button.range").forEach((button) => {
    button.addEventListener("click", () => {
      document.querySelectorAll("button.range").forEach((other) => other.classList.remove("current"));
      button.classList.add("current");
      load(Number(button.dataset.hours));
    });
  });
  load(24);
})();
