// Shared pieces of the dashboard: the signed-in key, API calls, charts, small DOM helpers.

const KEY = "reinforce.apiKey";

export function getKey() { return sessionStorage.getItem(KEY); }
export function setKey(key) { sessionStorage.setItem(KEY, key); }
export function clearKey() { sessionStorage.removeItem(KEY); }

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

// The key goes in the Authorization header only: never in a URL, never logged.
export async function api(path, { method = "GET", body, key = getKey() } = {}) {
  const headers = { Accept: "application/json", Authorization: `Bearer ${key}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit", cache: "no-store",
  });
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { detail: `The server answered ${response.status} with a body that is not JSON.` };
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

export function note(text) { return el("p", { class: "note", text }); }

export function windowDays() { return Number(document.getElementById("window-days").value); }

// The window [from, to): `days` whole UTC days ending tomorrow at midnight, so today counts.
export function windowRange(days = windowDays(), shiftDays = 0) {
  const to = new Date();
  to.setUTCHours(0, 0, 0, 0);
  to.setUTCDate(to.getUTCDate() + 1 - shiftDays);
  const from = new Date(to);
  from.setUTCDate(from.getUTCDate() - days);
  return { from: from.toISOString(), to: to.toISOString() };
}

export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(name, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

export const PALETTE = ["#0b57d0", "#d93025", "#188038", "#e37400", "#8430ce", "#007b83", "#b06000", "#5f6368"];

const charts = new Set();

// A chart in a labelled figure. ECharts' aria option describes the chart to screen readers;
// the figure's caption names it.
export function chart(caption, option, { tall = false, description } = {}) {
  const holder = el("div", { class: tall ? "chart tall" : "chart", role: "img", "aria-label": description || caption });
  const figure = el("figure", { class: "panel" }, el("figcaption", { text: caption }), holder);
  requestAnimationFrame(() => {
    const instance = echarts.init(holder, null, { renderer: "canvas" });
    instance.setOption({
      color: PALETTE, animation: false, aria: { enabled: true, decal: { show: false } },
      textStyle: { color: "#1b1f24" }, tooltip: { trigger: "axis" }, ...option,
    });
    holder.dataset.rendered = "true";
    charts.add(instance);
  });
  return figure;
}

export function sparkline(values) {
  const holder = el("div", { class: "spark", "aria-hidden": "true" });
  requestAnimationFrame(() => {
    const instance = echarts.init(holder, null, { renderer: "canvas" });
    instance.setOption({
      animation: false, grid: { left: 2, right: 2, top: 4, bottom: 4 },
      xAxis: { type: "category", show: false, data: values.map((_, i) => i) },
      yAxis: { type: "value", show: false, scale: true },
      series: [{ type: "line", data: values, symbol: "none", lineStyle: { width: 2, color: PALETTE[0] } }],
    });
    holder.dataset.rendered = "true";
    charts.add(instance);
  });
  return holder;
}

export function disposeCharts() {
  for (const instance of charts) instance.dispose();
  charts.clear();
}

window.addEventListener("resize", () => { for (const instance of charts) instance.resize(); });

export function table(caption, headers, rows) {
  return el("table", {},
    el("caption", { class: "sr-only", text: caption }),
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, rows.map((row) => el("tr", {}, row.map((cell) => el("td", {}, cell ?? ""))))),
  );
}

export function percent(value) { return value === null || value === undefined ? "–" : `${(value * 100).toFixed(1)}%`; }
export function number(value, digits = 0) {
  return value === null || value === undefined ? "–" : Number(value).toLocaleString("en", { maximumFractionDigits: digits, minimumFractionDigits: digits });
}
export function day(text) { return text ? String(text).slice(0, 10) : ""; }

export function problemText(error) {
  if (error instanceof ApiError) {
    if (error.status === 403) {
      const scope = error.problem && error.problem.required_scope;
      return scope ? `This key lacks the ${scope} scope.` : error.message;
    }
    return error.message;
  }
  return String(error && error.message ? error.message : error);
}
