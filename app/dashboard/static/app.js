// The dashboard's shell: sign-in, navigation between pages, the shared window picker.

import { ApiError, api, clearKey, disposeCharts, el, getKey, problemText, setKey } from "./core.js";
import { overview, feedback, metrics, cohorts } from "./pages.js";
import { value, programme, experiments, lookup } from "./more.js";

const PAGES = {
  overview: ["Overview", overview],
  metrics: ["Metrics", metrics],
  cohorts: ["Cohorts", cohorts],
  value: ["Customer value", value],
  programme: ["Programme", programme],
  experiments: ["Experiments", experiments],
  feedback: ["Feedback", feedback],
  lookup: ["Customer lookup", lookup],
};

const signIn = document.getElementById("sign-in");
const page = document.getElementById("page");
const nav = document.getElementById("nav");
const session = document.getElementById("session");
const signInError = document.getElementById("sign-in-error");

// A cheap read that needs metrics:read tells a wrong key (401) from a missing scope (403).
async function check(key) {
  try {
    await api("/v1/reports/tiers", { key });
    return null;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      return "That key was not accepted: it is unknown, revoked or mistyped.";
    }
    if (error instanceof ApiError && error.status === 403) {
      return "That key is valid but lacks the metrics:read scope the dashboard needs.";
    }
    return `The server could not check the key: ${problemText(error)}`;
  }
}

function showSignIn(message = "") {
  disposeCharts();
  signIn.hidden = false;
  page.hidden = true;
  nav.hidden = true;
  session.hidden = true;
  signInError.textContent = message;
  document.getElementById("api-key").focus();
}

let rendering = 0;

async function render() {
  const name = (location.hash || "#overview").slice(1);
  const [title, build] = PAGES[name] || PAGES.overview;
  for (const link of nav.querySelectorAll("a")) {
    if (link.getAttribute("href") === `#${name}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  disposeCharts();
  const ticket = ++rendering;
  const heading = el("h2", { id: "page-title", tabindex: "-1", text: title });
  const body = el("div", { "aria-busy": "true" });
  page.replaceChildren(heading, body);
  page.dataset.page = name;
  page.dataset.ready = "false";
  document.title = `${title} · reinforce`;
  try {
    const content = await build();
    if (ticket !== rendering) return;
    body.replaceChildren(...[content].flat());
  } catch (error) {
    if (ticket !== rendering) return;
    if (error instanceof ApiError && error.status === 401) {
      clearKey();
      showSignIn("The key is no longer accepted; sign in again.");
      return;
    }
    body.replaceChildren(el("p", { class: "error", role: "alert", text: problemText(error) }));
  }
  body.setAttribute("aria-busy", "false");
  // Charts draw on the next frame; the page is ready once they have.
  requestAnimationFrame(() => requestAnimationFrame(() => { if (ticket === rendering) page.dataset.ready = "true"; }));
}

function showApp() {
  signIn.hidden = true;
  page.hidden = false;
  nav.hidden = false;
  session.hidden = false;
  render();
}

document.getElementById("sign-in-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = document.getElementById("api-key");
  const key = input.value.trim();
  signInError.textContent = "Checking…";
  const problem = await check(key);
  if (problem) {
    signInError.textContent = problem;
    input.focus();
    return;
  }
  input.value = "";
  setKey(key);
  showApp();
});

document.getElementById("sign-out").addEventListener("click", () => { clearKey(); showSignIn(); });
document.getElementById("window-days").addEventListener("change", () => render());
window.addEventListener("hashchange", () => {
  if (getKey()) render().then(() => document.getElementById("page-title")?.focus());
});

if (getKey()) showApp();
else showSignIn();
