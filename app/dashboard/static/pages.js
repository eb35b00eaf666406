// Overview, Metrics, Cohorts and Feedback.

import {
  ApiError, api, chart, day, el, note, number, percent, problemText, query, sparkline, table,
  windowDays, windowRange,
} from "./core.js";

const fraction = (v) => percent(v);
const points100 = (v) => (v === null || v === undefined ? "–" : `${number(v, 1)}%`);
const score = (v) => (v === null || v === undefined ? "–" : number(v, 1));
const money = (v) => (v === null || v === undefined ? "–" : number(v, 2));

// name, label, format, change unit, whether higher is better
export const KPIS = [
  ["nps", "NPS", score, "pts", true],
  ["csat", "CSAT", points100, "pts", true],
  ["retention", "Retention", fraction, "pp", true],
  ["churn", "Churn", fraction, "pp", false],
  ["repeat-purchase-rate", "Repeat-purchase rate", fraction, "pp", true],
  ["referral-rate", "Referral rate", fraction, "pp", true],
  ["cltv", "Historical CLTV", money, "", true],
];

function change(current, previous, unit, higherIsBetter) {
  if (current === null || current === undefined || previous === null || previous === undefined) {
    return el("div", { class: "delta", text: "no previous value" });
  }
  let delta = current - previous;
  if (unit === "pp") delta *= 100;
  const sign = delta > 0 ? "+" : delta < 0 ? "−" : "±";
  const good = delta === 0 ? "" : (delta > 0) === higherIsBetter ? "up" : "down";
  const text = `${sign}${number(Math.abs(delta), unit === "" ? 2 : 1)}${unit ? ` ${unit}` : ""} vs previous window`;
  return el("div", { class: `delta ${good}`, text });
}

export async function overview() {
  const days = windowDays();
  const current = windowRange(days);
  const previous = windowRange(days, days);
  const interval = days > 180 ? "month" : "week";
  const [now, before, events, points, ...series] = await Promise.all([
    api(`/v1/metrics${query(current)}`),
    api(`/v1/metrics${query(previous)}`),
    api(`/v1/reports/events-per-day${query(current)}`),
    api(`/v1/reports/points-per-week${query(current)}`),
    ...KPIS.map(([name]) => api(`/v1/metrics/${name}${query({ ...current, interval })}`)),
  ]);
  const cards = KPIS.map(([name, label, format, unit, better], i) => {
    const value = now.metrics[name].value;
    return el("div", { class: "card", "data-kpi": name },
      el("div", { class: "label", text: label }),
      el("div", { class: "value", text: format(value) }),
      change(value, before.metrics[name].value, unit, better),
      sparkline(series[i].series.map((piece) => piece.value)),
    );
  });
  cards.push(el("div", { class: "card", "data-kpi": "liability" },
    el("div", { class: "label", text: "Outstanding points liability" }),
    el("div", { class: "value", text: number(points.liability) }),
    el("div", { class: "delta", text: "points held by customers now" }),
  ));

  const dayLabels = [...new Set(events.days.map((row) => row.day))];
  const types = [...new Set(events.days.map((row) => row.type))];
  const counts = new Map(events.days.map((row) => [`${row.day}|${row.type}`, row.events]));
  const eventsChart = chart("Events per day, by type", {
    legend: { top: 0, type: "scroll" }, grid: { left: 50, right: 16, top: 40, bottom: 40 },
    xAxis: { type: "category", data: dayLabels },
    yAxis: { type: "value", name: "events" },
    series: types.map((type) => ({
      name: type, type: "bar", stack: "events", barMaxWidth: 18,
      data: dayLabels.map((d) => counts.get(`${d}|${type}`) || 0),
    })),
  });
  const weeks = points.weeks.map((w) => w.week);
  const pointsChart = chart("Points issued, redeemed and expired, per week", {
    legend: { top: 0 }, grid: { left: 70, right: 16, top: 40, bottom: 40 },
    xAxis: { type: "category", data: weeks }, yAxis: { type: "value", name: "points" },
    series: [
      { name: "issued", type: "bar", data: points.weeks.map((w) => w.issued) },
      { name: "redeemed", type: "bar", data: points.weeks.map((w) => w.redeemed) },
      { name: "expired", type: "bar", data: points.weeks.map((w) => w.expired) },
    ],
  });
  return [
    el("p", { class: "note", text: `${day(current.from)} to ${day(current.to)} (exclusive), compared with the ${days} days before.` }),
    el("div", { class: "cards" }, cards),
    el("div", { class: "grid" }, eventsChart, pointsChart),
  ];
}

const METRIC_NAMES = KPIS.map(([name, label]) => [name, label]);

export async function metrics() {
  const segmentItems = (await api("/v1/segments")).items;
  const output = el("div", { "aria-live": "polite" });
  const metricSelect = el("select", { id: "metric-name" }, METRIC_NAMES.map(([v, l]) => el("option", { value: v, text: l })));
  const viewSelect = el("select", { id: "metric-view" },
    el("option", { value: "series", text: "Series over time" }),
    el("option", { value: "tier", text: "Breakdown by tier" }),
    el("option", { value: "channel", text: "Breakdown by channel" }));
  const intervalSelect = el("select", { id: "metric-interval" },
    ["day", "week", "month"].map((v) => el("option", { value: v, text: v, selected: v === "week" })));
  const segmentSelect = el("select", { id: "metric-segment" },
    el("option", { value: "", text: "Every customer" }),
    segmentItems.map((s) => el("option", { value: s.id, text: s.name || s.id })));

  async function draw() {
    const name = metricSelect.value;
    const view = viewSelect.value;
    const params = { ...windowRange(), segment: segmentSelect.value };
    if (view === "series") params.interval = intervalSelect.value;
    else params.by = view;
    output.replaceChildren(note("Loading…"));
    try {
      const answer = await api(`/v1/metrics/${name}${query(params)}`);
      const label = METRIC_NAMES.find(([v]) => v === name)[1];
      if (view === "series") {
        output.replaceChildren(chart(`${label} per ${params.interval}`, {
          grid: { left: 60, right: 16, top: 20, bottom: 40 },
          xAxis: { type: "category", data: answer.series.map((p) => day(p.from)) },
          yAxis: { type: "value", scale: true },
          series: [{ name: label, type: "line", data: answer.series.map((p) => p.value), connectNulls: false }],
        }, { tall: true }));
      } else {
        const groups = answer.groups || [];
        output.replaceChildren(groups.length ? chart(`${label} by ${view}`, {
          grid: { left: 60, right: 16, top: 20, bottom: 40 },
          xAxis: { type: "category", data: groups.map((g) => g.key ?? `(no ${view})`) },
          yAxis: { type: "value" },
          series: [{ name: label, type: "bar", data: groups.map((g) => g.value) }],
        }, { tall: true }) : note("Nothing to break down in this window."));
      }
    } catch (error) {
      output.replaceChildren(el("p", { class: "error", role: "alert", text: problemText(error) }));
    }
  }
  for (const control of [metricSelect, viewSelect, intervalSelect, segmentSelect]) control.addEventListener("change", draw);
  const controls = el("div", { class: "controls" },
    el("label", { for: "metric-name" }, "Metric", metricSelect),
    el("label", { for: "metric-view" }, "View", viewSelect),
    el("label", { for: "metric-interval" }, "Interval (series)", intervalSelect),
    el("label", { for: "metric-segment" }, "Segment", segmentSelect));
  await draw();
  return [controls, output];
}

export async function cohorts() {
  const range = windowRange(Math.max(windowDays(), 365));
  const answer = await api(`/v1/metrics/cohorts${query({ ...range, period: "month" })}`);
  if (!answer.cohorts.length) return note("No purchases in the window: no cohorts yet.");
  const longest = Math.max(...answer.cohorts.map((c) => c.share_active.length));
  const labels = answer.cohorts.map((c) => `${c.cohort} (${c.size})`);
  const data = [];
  answer.cohorts.forEach((c, row) => c.share_active.forEach((share, k) => data.push([k, row, Math.round(share * 1000) / 10])));
  return chart("Retention by monthly acquisition cohort (% of the cohort purchasing k months later)", {
    tooltip: { position: "top", formatter: (p) => `${labels[p.value[1]]}, month ${p.value[0]}: ${p.value[2]}%` },
    grid: { left: 140, right: 20, top: 10, bottom: 70 },
    xAxis: { type: "category", name: "months after acquisition", nameLocation: "middle", nameGap: 28, data: [...Array(longest).keys()] },
    yAxis: { type: "category", data: labels, inverse: true },
    visualMap: { min: 0, max: 100, calculable: true, orient: "horizontal", left: "center", bottom: 0, inRange: { color: ["#f1f6fe", "#0b57d0"] } },
    series: [{ name: "share active", type: "heatmap", data, label: { show: true, color: "#1b1f24", formatter: (p) => p.value[2] } }],
  }, { tall: true });
}

export async function feedback() {
  const range = windowRange();
  const interval = windowDays() > 180 ? "month" : "week";
  const [answers, nps, csat] = await Promise.all([
    api("/v1/feedback/detractors?limit=25"),
    api(`/v1/metrics/nps${query({ ...range, interval })}`),
    api(`/v1/metrics/csat${query({ ...range, interval })}`),
  ]);
  const status = el("p", { class: "note", role: "status", "aria-live": "polite" });
  const rows = answers.items.map((item) => {
    const state = el("span", { class: "followed", text: item.followed_up_at ? `Followed up ${day(item.followed_up_at)}` : "Not followed up" });
    const toggle = el("button", { type: "button", class: "secondary follow-up", "data-event": item.event_id,
      "aria-pressed": item.followed_up_at ? "true" : "false",
      text: item.followed_up_at ? "Clear follow-up" : "Mark followed up" });
    toggle.addEventListener("click", async () => {
      const on = toggle.getAttribute("aria-pressed") !== "true";
      toggle.disabled = true;
      try {
        const updated = await api(`/v1/feedback/${encodeURIComponent(item.event_id)}/follow-up`, { method: on ? "PUT" : "DELETE" });
        state.textContent = updated.followed_up_at ? `Followed up ${day(updated.followed_up_at)}` : "Not followed up";
        toggle.setAttribute("aria-pressed", updated.followed_up_at ? "true" : "false");
        toggle.textContent = updated.followed_up_at ? "Clear follow-up" : "Mark followed up";
        status.textContent = `Saved: ${item.customer_id}'s answer is ${updated.followed_up_at ? "followed up" : "not followed up"}.`;
      } catch (error) {
        status.textContent = error instanceof ApiError && error.status === 403
          ? "This key cannot set the follow-up flag: it needs the customers:write scope."
          : problemText(error);
      } finally {
        toggle.disabled = false;
      }
    });
    return [day(item.occurred_at), item.customer_id, String(item.score), item.comment || "(no comment)", el("span", {}, state, " ", toggle)];
  });
  const trend = chart("NPS and CSAT trend", {
    legend: { top: 0 }, grid: { left: 50, right: 50, top: 40, bottom: 40 },
    xAxis: { type: "category", data: nps.series.map((p) => day(p.from)) },
    yAxis: [{ type: "value", name: "NPS", min: -100, max: 100 }, { type: "value", name: "CSAT %", min: 0, max: 100 }],
    series: [
      { name: "NPS", type: "line", data: nps.series.map((p) => p.value) },
      { name: "CSAT", type: "line", yAxisIndex: 1, data: csat.series.map((p) => p.value) },
    ],
  });
  return [
    el("div", { class: "grid" }, trend),
    el("h3", { text: "Latest detractors" }),
    status,
    rows.length ? table("Latest detractors", ["Answered", "Customer", "Score", "Comment", "Follow-up"], rows) : note("No detractor answers yet."),
  ];
}
