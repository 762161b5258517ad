// clickpipe dashboard: reads the worker's GET /api/analytics and draws totals, a time series (Chart.js), a
// world map (d3-geo, dashboard-map.js) and the top values of a chosen dimension, refreshing every 5 s.
// The view's filters live in the URL query so a view can be shared; the API key never does: the page asks
// for it once and keeps it in sessionStorage (this tab only).
// Data from the API reaches the DOM through textContent and Option only, never as HTML.
"use strict";

const REFRESH_MS = 5000;
const TOP_N = 20;
const COLORS = { clicks: "#3b6fd8", uniques: "#e4572e" };
const KEY_STORAGE = "clickpipe.apiKey";
const BROWSER_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
const byId = (id) => document.getElementById(id);

let state = DashboardState.fromQuery(window.location.search, BROWSER_ZONE);
let generation = 0; // a refresh answered after a newer one started is dropped
let inFlight = 0; // the timer skips its turn while a refresh is still waiting, so a slow API is not starved
let worldMap = null;
let seriesChart = null;

class Unauthorized extends Error {}

// A non-2xx answer other than 401, with the API's own reason (and for a 400, the parameter it names).
class ApiError extends Error {
  constructor(status, reason, parameter) {
    super(reason);
    this.status = status;
    this.parameter = parameter;
  }
}

function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE);
}

function askForKey(reason) {
  sessionStorage.removeItem(KEY_STORAGE);
  byId("login").hidden = false;
  byId("login-error").textContent = reason || "";
}

async function analytics(groupBy, extra = {}, view = state) {
  const key = apiKey();
  if (!key) throw new Unauthorized("");
  const query = DashboardState.analyticsQuery(view, groupBy, extra);
  const response = await fetch(`/api/analytics?${query}`, { headers: { Authorization: `Bearer ${key}` } });
  const body = await response.json().catch(() => ({}));
  if (response.status === 401) throw new Unauthorized(String(body.error || "the API key was refused"));
  if (!response.ok) {
    throw new ApiError(response.status, String(body.error || response.statusText), body.parameter);
  }
  return body;
}

function showError(error) {
  const banner = byId("error");
  if (!error) {
    banner.hidden = true;
    banner.textContent = "";
    delete banner.dataset.status;
    return;
  }
  let text = `Error: ${error.message}`;
  if (error instanceof ApiError && error.status === 400) {
    text = `The worker refused a filter${error.parameter ? ` (${error.parameter})` : ""}: ${error.message}`;
  } else if (error instanceof ApiError && error.status === 503) {
    text = `The analytics are not available right now (${error.message}); retrying.`;
  } else if (error instanceof ApiError) {
    text = `The worker answered ${error.status}: ${error.message}`;
  }
  banner.textContent = text;
  banner.dataset.status = error instanceof ApiError ? String(error.status) : "";
  banner.hidden = false;
}

function number(id, value) {
  const known = value !== null && value !== undefined;
  byId(id).textContent = known ? value.toLocaleString("en-US") : "–";
  byId(id).dataset.value = known ? String(value) : "";
}

function timeLabel(iso, granularity, timezone) {
  const options = { timeZone: timezone, hourCycle: "h23" };
  if (granularity === "month") Object.assign(options, { year: "numeric", month: "short" });
  else if (granularity === "day") Object.assign(options, { year: "numeric", month: "2-digit", day: "2-digit" });
  else if (granularity === "hour") Object.assign(options, { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });
  else Object.assign(options, { hour: "2-digit", minute: "2-digit" });
  return new Intl.DateTimeFormat("en-GB", options).format(new Date(iso));
}

function drawSeries(answer) {
  const points = answer.data;
  const labels = points.map((p) => timeLabel(p.start, answer.granularity, answer.timezone || state.timezone));
  const datasets = [
    { label: "clicks", data: points.map((p) => p.clicks), borderColor: COLORS.clicks, backgroundColor: COLORS.clicks },
    { label: "unique visitors", data: points.map((p) => p.uniques), borderColor: COLORS.uniques, backgroundColor: COLORS.uniques },
  ].map((d) => ({ ...d, tension: 0.2, pointRadius: points.length > 60 ? 0 : 2 }));
  if (!seriesChart) {
    seriesChart = new Chart(byId("series-chart"), {
      type: "line",
      data: { labels, datasets },
      options: { animation: false, responsive: true, maintainAspectRatio: false, scales: { y: { beginAtZero: true } } },
    });
  } else {
    seriesChart.data.labels = labels;
    seriesChart.data.datasets = datasets;
    seriesChart.update();
  }
}

function cell(tag, text, className) {
  const element = document.createElement(tag);
  element.textContent = text;
  if (className) element.className = className;
  return element;
}

function drawDimension(groupBy, rows) {
  const dimension = DashboardState.dimension(groupBy);
  byId("dimension-name").textContent = dimension.label;
  const max = Math.max(1, ...rows.map((row) => row.clicks));
  const body = byId("dimension-table").tBodies[0];
  body.replaceChildren(
    ...rows.map((row) => {
      const tr = document.createElement("tr");
      const label = DashboardState.rowLabel(groupBy, row);
      const name = cell("td", label || "(none)", "name");
      name.title = groupBy === "top_links" ? String(row.link_id) : label;
      const uniques = row.uniques === null || row.uniques === undefined ? "–" : row.uniques.toLocaleString("en-US");
      const bar = document.createElement("span");
      bar.className = "bar";
      bar.style.width = `${Math.round((row.clicks / max) * 100)}%`;
      const barCell = cell("td", "", "bar-cell");
      barCell.append(bar);
      tr.append(name, cell("td", row.clicks.toLocaleString("en-US"), "num"), cell("td", uniques, "num"), barCell);
      tr.dataset.value = label;
      return tr;
    }),
  );
  const noUniques = rows.length > 0 && rows.every((row) => row.uniques === null || row.uniques === undefined);
  byId("dimension-note").textContent = rows.length === 0
    ? "No clicks in this range."
    : noUniques
      ? "Unique visitors are counted per link: grouped by this dimension they are not available (–)."
      : "";
}

// The link picker lists the links clicked in the range whatever the other filters, plus the one in the URL.
function fillLinks(rows) {
  const select = byId("link");
  const links = rows.map((row) => [String(row.link_id), String(row.slug || row.link_id)]);
  if (state.link && !links.some(([id]) => id === state.link)) links.push([state.link, state.link]);
  const ids = links.map(([id]) => id).join("\n");
  if (select.dataset.ids !== ids) {
    select.replaceChildren(new Option("all links", ""), ...links.map(([id, text]) => new Option(text, id)));
    select.dataset.ids = ids;
  }
  select.value = state.link;
}

async function refresh() {
  const mine = ++generation;
  const status = byId("status");
  const view = state;
  inFlight += 1;
  try {
    const [count, series, countries, links, top] = await Promise.all([
      analytics("count", {}, view),
      analytics("timeseries", {}, view),
      analytics("countries", { limit: "1000" }, view),
      analytics("top_links", { limit: "1000" }, { ...view, bots: "all", country: "", device: "", link: "" }),
      view.dimension === "countries" ? null : analytics(view.dimension, { limit: String(TOP_N) }, view),
    ]);
    if (mine !== generation) return;
    number("total-clicks", count.data.clicks);
    number("total-uniques", count.data.uniques);
    byId("uniques-note").textContent = count.data.uniques === null || count.data.uniques === undefined
      ? "not counted under a country or device filter"
      : `estimated, ±${(100 * (count.uniques_error || 0)).toFixed(1)}%`;
    byId("range").textContent = `${timeLabel(count.start, "hour", view.timezone)} – ${timeLabel(count.end, "hour", view.timezone)} (${view.timezone})`;
    drawSeries(series);
    if (worldMap) worldMap.setRows(countries.data);
    const offMap = countries.data.filter((row) => !worldMap || !worldMap.paths.has(String(row.country)));
    const offMapClicks = offMap.reduce((sum, row) => sum + row.clicks, 0);
    byId("map-unknown").textContent = offMapClicks
      ? `${offMapClicks.toLocaleString("en-US")} clicks not on the map (unknown country or too small to draw)`
      : "";
    drawDimension(view.dimension, top ? top.data : countries.data.slice(0, TOP_N));
    fillLinks(links.data);
    showError(null);
    status.textContent = `updated ${new Date().toLocaleTimeString()}`;
    document.body.dataset.refreshed = String(Date.now());
  } catch (error) {
    if (mine !== generation) return;
    if (error instanceof Unauthorized) {
      askForKey(error.message);
      status.textContent = "an API key is needed";
    } else {
      showError(error);
      status.textContent = "";
    }
  } finally {
    inFlight -= 1;
  }
}

// Put the state into the controls, and the controls into the URL (never the key).
function showState() {
  for (const name of ["interval", "timezone", "bots", "country", "device", "dimension"]) byId(name).value = state[name];
  byId("link").value = state.link;
  const query = DashboardState.toQuery(state, BROWSER_ZONE);
  window.history.replaceState(null, "", `${window.location.pathname}${query ? `?${query}` : ""}`);
}

function setState(changes) {
  state = { ...state, ...changes };
  showState();
  refresh();
}

function buildControls() {
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  const all = [...new Set(["UTC", BROWSER_ZONE, state.timezone, ...zones])];
  byId("timezone").replaceChildren(...all.map((zone) => new Option(zone, zone)));
  byId("dimension").replaceChildren(...DashboardState.DIMENSIONS.map((d) => new Option(d.label, d.groupBy)));
  byId("map-legend").querySelector(".swatches").replaceChildren(
    ...Array.from({ length: WorldMap.STEPS }, (_, i) => cell("span", "", `swatch shade-${i + 1}`)),
  );
  byId("controls").addEventListener("change", (event) => {
    const name = event.target.id;
    if (name === "country") {
      const list = DashboardState.countryList(event.target.value);
      event.target.value = list;
      setState({ country: list });
    } else if (name in state) {
      setState({ [name]: event.target.value });
    }
  });
  byId("controls").addEventListener("submit", (event) => event.preventDefault());
  byId("dimension").addEventListener("change", (event) => setState({ dimension: event.target.value }));
  byId("login").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = byId("api-key");
    sessionStorage.setItem(KEY_STORAGE, input.value.trim());
    input.value = "";
    byId("login").hidden = true;
    byId("login-error").textContent = "";
    refresh();
  });
}

buildControls();
showState();
// A click on a country filters the view to it; a second click clears the filter.
worldMap = new WorldMap(byId("world-map"), byId("map-tooltip"), (code) => setState({ country: state.country === code ? "" : code }));
worldMap.load().then(refresh, (error) => {
  worldMap = null;
  byId("map-legend").replaceChildren(cell("span", `The world map did not load: ${error.message}`, "failure"));
  refresh();
});
if (!apiKey()) askForKey("");
setInterval(() => {
  if (!inFlight) refresh();
}, REFRESH_MS);
