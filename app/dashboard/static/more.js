// Customer value, Programme, Experiments and Customer lookup.

import {
  ApiError, api, chart, day, el, note, number, percent, problemText,
  query, table, windowRange,
} from "./core.js";

// BG/NBD: P(alive | x, t_x, T) = 1 / (1 + [x > 0] · a / (b + x − 1) · ((α + T) / (α + t_x))^(r + x)).
function pAlive({ r, alpha, a, b }, x, tx, T) {
  if (x === 0) return 1;
  return 1 / (1 + (a / (b + x - 1)) * Math.pow((alpha + T) / (alpha + tx), r + x));
}

// The calibration fit on a 13-week holdout, or a shorter or longer one when the model is
// not identified on that cut (a 422): the last refusal when none is.
async function calibrated(to) {
  let refusal = null;
  for (const weeks of [13, 8, 26]) {
    try {
      return await api(`/v1/reports/cltv-calibration${query({ to, holdout_weeks: weeks })}`);
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 422)) throw error;
      refusal = error;
    }
  }
  return refusal;
}

export async function value() {
  let distribution;
  try {
    distribution = await api("/v1/reports/cltv-distribution?bins=20");
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 404)) throw error;
    const status = el("p", { role: "status" });
    const fit = el("button", { type: "button", text: "Fit predictive CLTV now" });
    fit.addEventListener("click", async () => {
      fit.disabled = true;
      status.textContent = "Fitting…";
      try {
        await api("/v1/metrics/cltv/fits", { method: "POST", body: {} });
        window.dispatchEvent(new HashChangeEvent("hashchange"));
      } catch (failure) {
        status.textContent = problemText(failure);
        fit.disabled = false;
      }
    });
    return [note("No predictive CLTV fit is stored yet."), fit, status];
  }
  const ref = distribution.fit;
  const [answer, risk, holdout] = await Promise.all([
    api(`/v1/metrics/cltv${query({ method: "predictive", to: ref.window_to, from: ref.window_from, time_unit: ref.time_unit, top: 0 })}`),
    api("/v1/reports/at-risk?limit=15&max_p_alive=0.5"),
    calibrated(ref.window_to),
  ]);
  const calibration = holdout instanceof ApiError
    ? el("figure", { class: "panel" }, el("figcaption", { text: "Calibration against a holdout" }), note(problemText(holdout)))
    : chart(`Calibration against a ${holdout.holdout_weeks}-week holdout: repeat purchases per customer`, {
      legend: { top: 0 }, grid: { left: 60, right: 16, top: 40, bottom: 60 },
      xAxis: { type: "category", name: "repeat purchases before the holdout", nameLocation: "middle", nameGap: 28,
        data: holdout.groups.map((g) => `${g.frequency} (${g.customers})`) },
      yAxis: { type: "value", name: "in the holdout" },
      series: [
        { name: "observed", type: "line", data: holdout.groups.map((g) => g.actual) },
        { name: "predicted (fit before the holdout)", type: "line", lineStyle: { type: "dashed" }, data: holdout.groups.map((g) => g.predicted) },
      ],
    });
  const histogram = chart(`Predicted CLTV over ${number(distribution.customers)} customers (fit of ${day(ref.fitted_at)})`, {
    grid: { left: 60, right: 16, top: 20, bottom: 60 },
    xAxis: { type: "category", name: "predicted CLTV", nameLocation: "middle", nameGap: 40,
      data: distribution.bins.map((bin) => `${number(bin.from)}–${number(bin.to)}`) },
    yAxis: { type: "value", name: "customers" },
    series: [{ name: "customers", type: "bar", data: distribution.bins.map((bin) => bin.customers) }],
  });
  // A year of history, in the fit's time unit, for a customer first seen a year ago.
  const T = ref.time_unit === "day" ? 365 : 52;
  const frequencies = [...Array(16).keys()];
  const recencies = [...Array(14).keys()].map((i) => Math.round((i * T) / 13));
  const cells = [];
  frequencies.forEach((x, i) => recencies.forEach((tx, j) => cells.push([j, i, Math.round(pAlive(answer.params, x, x ? tx : 0, T) * 100) / 100])));
  const matrix = chart(`P(alive) by frequency and recency (customers first seen ${T} ${ref.time_unit}s before the fit's end)`, {
    tooltip: { position: "top", formatter: (p) => `frequency ${frequencies[p.value[1]]}, recency ${recencies[p.value[0]]}: ${p.value[2]}` },
    grid: { left: 60, right: 20, top: 10, bottom: 80 },
    xAxis: { type: "category", name: `recency (${ref.time_unit}s)`, nameLocation: "middle", nameGap: 28, data: recencies },
    yAxis: { type: "category", name: "frequency", data: frequencies },
    visualMap: { min: 0, max: 1, calculable: true, orient: "horizontal", left: "center", bottom: 0, inRange: { color: ["#b3261e", "#fdf3e1", "#146c2e"] } },
    series: [{ name: "P(alive)", type: "heatmap", data: cells }],
  }, { tall: true });
  const alive = chart("P(alive) over the customers", {
    grid: { left: 60, right: 16, top: 20, bottom: 40 },
    xAxis: { type: "category", data: answer.p_alive.histogram.map((bin) => `${bin.from.toFixed(1)}–${bin.to.toFixed(1)}`) },
    yAxis: { type: "value", name: "customers" },
    series: [{ name: "customers", type: "bar", data: answer.p_alive.histogram.map((bin) => bin.customers) }],
  });
  const rows = risk.customers.map((c) => [
    el("a", { href: "#lookup", "data-customer": c.customer_id, text: c.customer_id, onclick: () => sessionStorage.setItem("reinforce.lookup", c.customer_id) }),
    number(c.lifetime_spend, 2), String(c.purchase_count), day(c.last_purchase_at), percent(c.p_alive), number(c.predicted_clv, 2),
  ]);
  return [
    el("div", { class: "grid" }, histogram, matrix, alive, calibration),
    el("h3", { text: "Top customers at risk: highest spend, P(alive) below 50%" }),
    rows.length ? table("Customers at risk", ["Customer", "Spend so far", "Purchases", "Last purchase", "P(alive)", "Predicted CLTV"], rows) : note("No customer is below 50% P(alive)."),
  ];
}

export async function programme() {
  const range = windowRange();
  const [rules, tiers, rewards, leaderboards] = await Promise.all([
    api(`/v1/reports/rules${query(range)}`),
    api("/v1/reports/tiers"),
    api("/v1/rewards"),
    api("/v1/leaderboards"),
  ]);
  const parts = [];
  parts.push(rules.rules.length ? chart("Rules: points credited in the window", {
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
    legend: { top: 0 }, grid: { left: 140, right: 60, top: 30, bottom: 30 },
    yAxis: { type: "category", data: rules.rules.map((r) => r.rule_id), inverse: true },
    xAxis: [{ type: "value", name: "points" }, { type: "value", name: "firings", position: "top", show: false }],
    series: [
      { name: "points", type: "bar", data: rules.rules.map((r) => r.points) },
      { name: "firings", type: "bar", xAxisIndex: 1, data: rules.rules.map((r) => r.firings) },
    ],
  }) : note("No rule credited points in the window."));
  parts.push(chart(`Tiers of ${number(tiers.customers)} customers`, {
    tooltip: { trigger: "item" }, legend: { bottom: 0 },
    series: [{ name: "customers", type: "pie", radius: ["35%", "65%"], data: tiers.tiers.map((t) => ({ name: t.tier ?? "no tier", value: t.customers })) }],
  }));
  const rewardItems = rewards.items;
  const rewardsPart = rewardItems.length ? chart("Rewards: cost in points and stock left", {
      legend: { top: 0 }, grid: { left: 60, right: 16, top: 40, bottom: 60 },
      xAxis: { type: "category", data: rewardItems.map((r) => r.name || r.id) },
      yAxis: { type: "value" },
      series: [
        { name: "cost (points)", type: "bar", data: rewardItems.map((r) => r.cost_points ?? null) },
        { name: "stock", type: "bar", data: rewardItems.map((r) => r.stock ?? null) },
      ],
    }) : el("figure", { class: "panel" }, el("figcaption", { text: "Rewards and coupons" }), note("No rewards in the catalog yet."));
  parts.push(rewardsPart);
  const boards = leaderboards.items.slice(0, 3);
  if (!boards.length) {
    parts.push(el("figure", { class: "panel" }, el("figcaption", { text: "Leaderboards" }), note("No leaderboards defined yet.")));
  } else {
    const standings = await Promise.all(boards.map((board) =>
      api(`/v1/leaderboards/${encodeURIComponent(board.id)}/standings?period=current&limit=10`).catch(() => null)));
    boards.forEach((board, i) => {
      const entries = (standings[i] && standings[i].entries) || [];
      parts.push(entries.length ? chart(`Leaderboard: ${board.name || board.id} (${standings[i].period})`, {
        grid: { left: 140, right: 20, top: 10, bottom: 30 },
        yAxis: { type: "category", inverse: true, data: entries.map((e) => `${e.rank}. ${e.display_name || e.customer_id}`) },
        xAxis: { type: "value", name: "score" },
        series: [{ name: "score", type: "bar", data: entries.map((e) => Number(e.score)) }],
      }) : el("figure", { class: "panel" }, el("figcaption", { text: `Leaderboard: ${board.name || board.id}` }), note("Nobody ranked yet.")));
    });
  }
  return el("div", { class: "grid" }, parts);
}

// Experiment results (`GET /v1/experiments/{id}/results`): for each metric, each variant's
// difference from the control (the first variant, at 0) with its 95% interval, drawn as a
// point with whiskers.
function experimentChart(experiment, results) {
  const variants = results.variants || [];
  const names = [...new Set(variants.flatMap((v) => (v.metrics || []).map((m) => m.metric)))];
  const figures = names.map((name) => {
    const rows = variants.map((v, i) => {
      const found = (v.metrics || []).find((m) => m.metric === name);
      const estimate = (found && found.estimate) || {};
      return { id: v.variant, difference: i === 0 ? 0 : estimate.difference ?? null, low: estimate.ci_low, high: estimate.ci_high };
    });
    const whiskers = rows.map((row, i) => [i, row.low, row.high]).filter((w) => w[1] != null && w[2] != null);
    return chart(`${experiment.name || experiment.id}: ${name}, difference from ${rows[0] ? rows[0].id : "the control"} (95% interval)`, {
      grid: { left: 60, right: 16, top: 20, bottom: 40 },
      xAxis: { type: "category", data: rows.map((r) => r.id) },
      yAxis: { type: "value", scale: true },
      tooltip: { trigger: "item" },
      series: [
        { name: "difference", type: "scatter", symbolSize: 12, data: rows.map((r) => r.difference) },
        { name: "95% interval", type: "custom", data: whiskers,
          renderItem: (params, api_) => {
            const low = api_.coord([api_.value(0), api_.value(1)]);
            const high = api_.coord([api_.value(0), api_.value(2)]);
            const style = { stroke: "#1b1f24", lineWidth: 2 };
            return { type: "group", children: [
              { type: "line", shape: { x1: low[0], y1: low[1], x2: high[0], y2: high[1] }, style },
              { type: "line", shape: { x1: low[0] - 8, y1: low[1], x2: low[0] + 8, y2: low[1] }, style },
              { type: "line", shape: { x1: high[0] - 8, y1: high[1], x2: high[0] + 8, y2: high[1] }, style },
            ] };
          } },
      ],
    });
  });
  return figures.length ? figures : [note(`${experiment.name || experiment.id}: no results yet.`)];
}

export async function experiments() {
  const items = (await api("/v1/experiments")).items;
  if (!items.length) return note("No experiments defined yet.");
  const results = await Promise.all(items.map((e) =>
    api(`/v1/experiments/${encodeURIComponent(e.id)}/results`).catch(() => null)));
  return el("div", { class: "grid" }, items.flatMap((e, i) => (results[i] ? experimentChart(e, results[i]) : [note(`${e.name || e.id}: no results yet.`)])));
}

export async function lookup() {
  const input = el("input", { id: "lookup-id", type: "search", required: true, spellcheck: "false" });
  const output = el("div", { "aria-live": "polite" });
  const form = el("form", { class: "controls", role: "search" },
    el("label", { for: "lookup-id" }, "Customer id", input), el("button", { type: "submit", text: "Look up" }));
  async function show(id) {
    output.replaceChildren(note("Loading…"));
    try {
      const path = `/v1/customers/${encodeURIComponent(id)}`;
      const [customer, ledger, coupons] = await Promise.all([
        api(path), api(`${path}/ledger?limit=200`), api(`${path}/coupons`),
      ]);
      output.replaceChildren(...profile(customer, ledger.items, coupons));
    } catch (error) {
      output.replaceChildren(el("p", { class: "error", role: "alert", text: error instanceof ApiError && error.status === 404 ? `No customer has the id ${id}.` : problemText(error) }));
    }
  }
  form.addEventListener("submit", (event) => { event.preventDefault(); show(input.value.trim()); });
  const remembered = sessionStorage.getItem("reinforce.lookup");
  if (remembered) {
    sessionStorage.removeItem("reinforce.lookup");
    input.value = remembered;
    await show(remembered);
  }
  return [form, output];
}

function profile(customer, entries, coupons) {
  const points = customer.points || {};
  const facts = [
    ["Tier", customer.tier || "none"], ["Points available", number(points.available)],
    ["Purchases", String(customer.aggregates.purchase_count)], ["Spend", number(customer.aggregates.lifetime_spend, 2)],
    ["First seen", day(customer.first_seen_at)], ["P(alive)", customer.prediction ? percent(customer.prediction.p_alive) : "no fit"],
  ];
  const chronological = [...entries].sort((x, y) => (x.occurred_at < y.occurred_at ? -1 : x.occurred_at > y.occurred_at ? 1 : x.id - y.id));
  // The newest entries only: start from what the balance was before the oldest of them.
  let balance = (points.available ?? 0) + (points.pending ?? 0) - entries.reduce((sum, e) => sum + e.points, 0);
  const timeline = chronological.map((e) => { balance += e.points; return [e.occurred_at, balance, e.kind, e.points, e.reason]; });
  const couponItems = coupons.items;
  return [
    el("h3", { text: customer.profile.display_name ? `${customer.profile.display_name} (${customer.id})` : customer.id }),
    el("div", { class: "cards" }, facts.map(([label, text]) => el("div", { class: "card" }, el("div", { class: "label", text: label }), el("div", { class: "value", text })))),
    el("p", {}, el("strong", { text: "Badges: " }), customer.badges.length ? customer.badges.map((b) => b.badge).join(", ") : "none"),
    el("p", {}, el("strong", { text: "Coupons: " }), couponItems.length ? couponItems.map((c) => `${c.code} (${c.status})`).join(", ") : "none"),
    timeline.length ? chart("Ledger timeline: balance after each movement", {
      tooltip: { trigger: "axis", formatter: (p) => { const d = timeline[p[0].dataIndex]; return `${day(d[0])}: ${d[2]} ${d[3] > 0 ? "+" : ""}${d[3]} (${d[4]}), balance ${d[1]}`; } },
      grid: { left: 60, right: 16, top: 20, bottom: 40 },
      xAxis: { type: "time" }, yAxis: { type: "value", name: "points" },
      series: [{ name: "balance", type: "line", step: "end", data: timeline.map(([when, after]) => [when, after]) }],
    }) : note("No ledger entries yet."),
    table("Ledger", ["When", "Kind", "Points", "Reason"], [...chronological].reverse().slice(0, 50).map((e) => [day(e.occurred_at), e.kind, String(e.points), e.reason])),
  ];
}
