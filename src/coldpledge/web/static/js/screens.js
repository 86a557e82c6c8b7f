/* The risk big screens: draw the snapshot the page was rendered with at once, then redraw from
   the screen's event stream (server-sent events) without reloading. Every figure comes from the
   snapshot; every word from the labels rendered with the page. Text is set with textContent
   only: names in the data never become markup. */
(function () {
  "use strict";

  const root = document.getElementById("screen");
  if (!root || typeof echarts === "undefined") {
    return;
  }
  const labels = JSON.parse(document.getElementById("labels").textContent);
  const english = root.dataset.lang === "en";
  const locale = english ? "en-GB" : "zh-CN";
  const ZONE = "Asia/Shanghai";
  const COLOURS = {
    normal: "#2fb36d",
    warning: "#f5a623",
    critical: "#ef4444",
    offline: "#64748b",
    minor: "#facc15",
    major: "#f59e0b",
    margin_call: "#ef4444",
    liquidation: "#a855f7",
    disposed: "#64748b",
    on_time: "#2fb36d",
    at_risk: "#f59e0b",
    overdue: "#ef4444",
    exposure: "#f97316",
    value: "#38bdf8",
    band: "rgba(56, 189, 248, 0.25)",
    text: "#cbd5e1",
    axis: "#475569",
    grid: "#1e293b",
  };
  const PALETTE = ["#38bdf8", "#a78bfa", "#34d399", "#fbbf24", "#f472b6", "#60a5fa"];
  const charts = {};

  // --- helpers ----------------------------------------------------------------------------------

  function label(group, key) {
    return (labels[group] && labels[group][key]) || key;
  }

  function at(data, path) {
    return path.split(".").reduce((value, key) => (value == null ? value : value[key]), data);
  }

  function wan(fen) {
    // Integer fen to CNY 10,000 with two decimals, for reading across a room.
    return (fen / 1000000).toLocaleString(locale, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }

  function percent(bp) {
    return (bp / 100).toFixed(2) + "%";
  }

  function clock(iso, withDate) {
    const options = { timeZone: ZONE, hour12: false, hour: "2-digit", minute: "2-digit", second: "2-digit" };
    if (withDate) {
      Object.assign(options, { month: "2-digit", day: "2-digit" });
    }
    return new Date(iso).toLocaleString(locale, options);
  }

  function formatted(value, format) {
    if (value === null || value === undefined) {
      return "–";
    }
    if (format === "wan") {
      return wan(value);
    }
    if (format === "percent") {
      return percent(value);
    }
    if (format === "time") {
      return clock(value, true);
    }
    return typeof value === "number" ? value.toLocaleString(locale) : String(value);
  }

  function element(tag, className, text) {
    const made = document.createElement(tag);
    if (className) {
      made.className = className;
    }
    if (text !== undefined && text !== null) {
      made.textContent = String(text);
    }
    return made;
  }

  function chart(name) {
    if (!charts[name]) {
      const host = root.querySelector('[data-chart="' + name + '"]');
      if (!host) {
        return null;
      }
      charts[name] = echarts.init(host, null, { renderer: "canvas" });
    }
    return charts[name];
  }

  const base = {
    animationDuration: 300,
    animationDurationUpdate: 300,
    textStyle: { color: COLOURS.text, fontSize: 16 },
    tooltip: { trigger: "item" },
  };

  function axis(extra) {
    return Object.assign(
      {
        axisLine: { lineStyle: { color: COLOURS.axis } },
        axisLabel: { color: COLOURS.text, fontSize: 14 },
        splitLine: { lineStyle: { color: COLOURS.grid } },
      },
      extra
    );
  }

  function donut(name, items) {
    const target = chart(name);
    if (!target) {
      return;
    }
    const total = items.reduce((sum, item) => sum + item.value, 0);
    target.setOption(
      Object.assign({}, base, {
        legend: { show: false },
        title: {
          text: String(total),
          left: "center",
          top: "middle",
          textStyle: { color: "#f8fafc", fontSize: 34, fontWeight: 700 },
        },
        series: [
          {
            type: "pie",
            radius: ["58%", "82%"],
            label: { show: false },
            data: total
              ? items
              : [{ name: labels.chart.none, value: 1, itemStyle: { color: COLOURS.grid } }],
          },
        ],
      }),
      true
    );
  }

  // --- shared parts -----------------------------------------------------------------------------

  function drawFigures(data) {
    root.querySelectorAll("[data-figure]").forEach((node) => {
      node.textContent = formatted(at(data, node.dataset.figure), node.dataset.format);
    });
  }

  function drawUpdated(data) {
    const time = document.getElementById("updated");
    if (time) {
      time.textContent = clock(data.generated_at, false);
      time.dateTime = data.generated_at;
      time.dataset.updated = data.generated_at;
    }
  }

  // --- 存货作业风控大屏 -------------------------------------------------------------------------

  function drawPlan(data) {
    const plan = document.getElementById("floor-plan");
    const buildings = data.warehouses.map((warehouse) => {
      const section = element("section", "building");
      const head = element("h3", null, warehouse.name + " · " + warehouse.city);
      section.appendChild(head);
      const grid = element("ul", "rooms");
      warehouse.rooms.forEach((room) => {
        const tile = element("li", "room state-" + room.state);
        tile.dataset.room = room.code;
        tile.dataset.state = room.state;
        tile.title = label("room_state", room.state);
        tile.appendChild(element("span", "code", room.code));
        const reading = room.temperature_c === null ? "–" : room.temperature_c.toFixed(1) + " °C";
        tile.appendChild(element("span", "temp", reading));
        const low = room.warning_below_c === null ? room.band_low_c : room.warning_below_c;
        const high = room.warning_above_c === null ? room.band_high_c : room.warning_above_c;
        tile.appendChild(element("span", "band", low.toFixed(1) + " ~ " + high.toFixed(1) + " °C"));
        const doors = element("span", room.doors_open ? "doors open" : "doors");
        doors.textContent = labels.chart.doors_open + " " + room.doors_open + "/" + room.doors;
        tile.appendChild(doors);
        const alerts = room.alerts.critical + room.alerts.major + room.alerts.minor;
        if (alerts) {
          tile.appendChild(element("span", "badge", "⚠ " + alerts));
        }
        grid.appendChild(tile);
      });
      section.appendChild(grid);
      return section;
    });
    plan.replaceChildren(...buildings);
  }

  function drawRecentAlerts(data) {
    const list = document.getElementById("recent-alerts");
    const items = data.recent_alerts.map((alert) => {
      const item = element("li", "sev-" + alert.severity);
      item.appendChild(element("span", "when", clock(alert.triggered_at, false)));
      item.appendChild(element("span", "what", label("rule", alert.rule)));
      item.appendChild(element("span", "where", alert.room || ""));
      return item;
    });
    if (!items.length) {
      items.push(element("li", "empty", labels.chart.none));
    }
    list.replaceChildren(...items);
  }

  function drawTemperatures(data) {
    const target = chart("temperatures");
    const rooms = [];
    data.warehouses.forEach((warehouse) => warehouse.rooms.forEach((room) => rooms.push(room)));
    const bands = rooms.map((room) => {
      const low = room.warning_below_c === null ? room.band_low_c : room.warning_below_c;
      const high = room.warning_above_c === null ? room.band_high_c : room.warning_above_c;
      return [low, high, low, high];
    });
    const readings = rooms.map((room, index) => ({
      value: [index, room.temperature_c],
      itemStyle: { color: COLOURS[room.state] || COLOURS.normal },
    }));
    target.setOption(
      Object.assign({}, base, {
        tooltip: { trigger: "axis" },
        grid: { left: 60, right: 20, top: 20, bottom: 40 },
        xAxis: axis({ type: "category", data: rooms.map((room) => room.code) }),
        yAxis: axis({ type: "value", scale: true, name: "°C", nameTextStyle: { color: COLOURS.text } }),
        series: [
          {
            type: "candlestick",
            barMaxWidth: 36,
            itemStyle: {
              color: COLOURS.band,
              color0: COLOURS.band,
              borderColor: COLOURS.value,
              borderColor0: COLOURS.value,
            },
            data: bands,
          },
          {
            type: "scatter",
            symbolSize: 22,
            data: readings.filter((point) => point.value[1] !== null),
          },
        ],
      }),
      true
    );
  }

  function drawInventory(data) {
    drawPlan(data);
    drawRecentAlerts(data);
    donut(
      "alert-severity",
      ["critical", "major", "minor"].map((severity) => ({
        name: label("severity", severity),
        value: data.alerts[severity],
        itemStyle: { color: COLOURS[severity] },
      }))
    );
    drawTemperatures(data);
    donut(
      "sla",
      ["on_time", "at_risk", "overdue"].map((state) => ({
        name: label("sla", state),
        value: data.work_orders[state],
        itemStyle: { color: COLOURS[state] },
      }))
    );
    donut("devices", [
      { name: labels.chart.online, value: data.devices.online, itemStyle: { color: COLOURS.normal } },
      { name: labels.chart.offline, value: data.devices.offline, itemStyle: { color: COLOURS.critical } },
    ]);
  }

  // --- 数字仓单风控大屏 -------------------------------------------------------------------------

  function drawValueHistory(data) {
    const days = data.value_history.map((day) => day.date.slice(5));
    chart("value-history").setOption(
      Object.assign({}, base, {
        tooltip: { trigger: "axis" },
        legend: { textStyle: { color: COLOURS.text, fontSize: 16 }, top: 0 },
        grid: { left: 90, right: 20, top: 40, bottom: 36 },
        xAxis: axis({ type: "category", data: days, boundaryGap: false }),
        yAxis: axis({ type: "value", name: labels.chart.ten_thousand_yuan, nameTextStyle: { color: COLOURS.text } }),
        series: [
          {
            name: labels.chart.collateral_value,
            type: "line",
            smooth: true,
            showSymbol: false,
            areaStyle: { opacity: 0.15 },
            lineStyle: { width: 3 },
            itemStyle: { color: COLOURS.value },
            data: data.value_history.map((day) => day.collateral_value_fen / 1000000),
          },
          {
            name: labels.chart.exposure,
            type: "line",
            smooth: true,
            showSymbol: false,
            lineStyle: { width: 3 },
            itemStyle: { color: COLOURS.exposure },
            data: data.value_history.map((day) => day.exposure_fen / 1000000),
          },
        ],
      }),
      true
    );
  }

  function bucketName(bucket) {
    if (bucket.from_bp === null) {
      return labels.chart.no_value;
    }
    if (bucket.to_bp === null) {
      return "≥" + bucket.from_bp / 100 + "%";
    }
    return bucket.from_bp / 100 + "–" + bucket.to_bp / 100 + "%";
  }

  function bucketColour(bucket) {
    if (bucket.from_bp === null || bucket.from_bp >= 8500) {
      return COLOURS.liquidation;
    }
    if (bucket.from_bp >= 7500) {
      return COLOURS.critical;
    }
    if (bucket.from_bp >= 7000) {
      return COLOURS.warning;
    }
    return COLOURS.normal;
  }

  function drawLtv(data) {
    chart("ltv").setOption(
      Object.assign({}, base, {
        tooltip: { trigger: "axis" },
        grid: { left: 50, right: 20, top: 20, bottom: 40 },
        xAxis: axis({
          type: "category",
          data: data.ltv_buckets.map(bucketName),
          axisLabel: { color: COLOURS.text, fontSize: 13, interval: 0 },
        }),
        yAxis: axis({ type: "value", minInterval: 1 }),
        series: [
          {
            type: "bar",
            barMaxWidth: 48,
            label: { show: true, position: "top", color: COLOURS.text, fontSize: 16 },
            data: data.ltv_buckets.map((bucket) => ({
              value: bucket.count,
              itemStyle: { color: bucketColour(bucket) },
            })),
          },
        ],
      }),
      true
    );
  }

  function drawAtRisk(data) {
    const body = document.getElementById("at-risk");
    const rows = data.at_risk.map((facility) => {
      const row = element("tr", "risk-" + facility.risk_state);
      row.dataset.facility = facility.code;
      row.appendChild(element("td", "code", facility.code));
      row.appendChild(element("td", null, facility.borrower));
      row.appendChild(element("td", null, facility.bank));
      row.appendChild(element("td", "state", label("risk_state", facility.risk_state)));
      row.appendChild(element("td", "num", formatted(facility.ltv_bp, "percent")));
      row.appendChild(element("td", null, facility.deadline || "–"));
      return row;
    });
    if (!rows.length) {
      const row = element("tr", "empty");
      const cell = element("td", null, labels.chart.none);
      cell.colSpan = 6;
      row.appendChild(cell);
      rows.push(row);
    }
    body.replaceChildren(...rows);
  }

  function drawPrices(data) {
    const dates = Array.from(new Set(data.prices.flatMap((trend) => trend.points.map((point) => point[0])))).sort();
    chart("prices").setOption(
      Object.assign({}, base, {
        color: PALETTE,
        tooltip: { trigger: "axis" },
        legend: { textStyle: { color: COLOURS.text, fontSize: 16 }, top: 0 },
        grid: { left: 70, right: 20, top: 40, bottom: 36 },
        xAxis: axis({ type: "category", data: dates.map((day) => day.slice(5)), boundaryGap: false }),
        yAxis: axis({ type: "value", scale: true, name: labels.chart.yuan_per_kg, nameTextStyle: { color: COLOURS.text } }),
        series: data.prices.map((trend) => {
          const byDate = new Map(trend.points.map((point) => [point[0], point[1]]));
          return {
            name: english ? trend.commodity_name_en : trend.commodity_name,
            type: "line",
            smooth: true,
            connectNulls: true,
            showSymbol: false,
            lineStyle: { width: 3 },
            // fen per tonne to CNY per kg
            data: dates.map((day) => (byDate.has(day) ? byDate.get(day) / 100000 : null)),
          };
        }),
      }),
      true
    );
  }

  function drawReceipts(data) {
    const shown = Object.keys(data.receipts).filter((status) => data.receipts[status] > 0);
    chart("receipts").setOption(
      Object.assign({}, base, {
        tooltip: { trigger: "axis" },
        grid: { left: 150, right: 50, top: 10, bottom: 30 },
        xAxis: axis({ type: "value", minInterval: 1 }),
        yAxis: axis({ type: "category", inverse: true, data: shown.map((status) => label("receipt_status", status)) }),
        series: [
          {
            type: "bar",
            barMaxWidth: 28,
            itemStyle: { color: COLOURS.value },
            label: { show: true, position: "right", color: COLOURS.text, fontSize: 16 },
            data: shown.map((status) => data.receipts[status]),
          },
        ],
      }),
      true
    );
  }

  function drawReceiptScreen(data) {
    drawValueHistory(data);
    drawLtv(data);
    drawAtRisk(data);
    drawPrices(data);
    drawReceipts(data);
  }

  // --- drawing and listening --------------------------------------------------------------------

  function draw(data) {
    drawFigures(data);
    if (data.kind === "inventory") {
      drawInventory(data);
    } else {
      drawReceiptScreen(data);
    }
    drawUpdated(data);
    root.dataset.ready = "true";
  }

  function listen() {
    const live = document.querySelector("[data-live]");
    const source = new EventSource(root.dataset.events);
    source.addEventListener("open", () => {
      live.dataset.live = "live";
    });
    source.addEventListener("error", () => {
      live.dataset.live = "reconnecting";
    });
    source.addEventListener("snapshot", (message) => {
      draw(JSON.parse(message.data));
    });
    source.addEventListener("signed-out", () => {
      source.close();
      window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname));
    });
  }

  window.addEventListener("resize", () => {
    Object.values(charts).forEach((made) => made.resize());
  });
  draw(JSON.parse(document.getElementById("snapshot").textContent));
  listen();
})();
