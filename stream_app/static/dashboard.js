// clickpipe dashboard: reads the worker's stats API and draws it with Chart.js, refreshing every 2 s.
// The stats API needs an API key: the page asks for it once and keeps it in sessionStorage (this tab only).
// Data from the API reaches the DOM through textContent and Option only, never as HTML.
"use strict";

const REFRESH_MS = 2000;
const COLORS = ["#3b6fd8", "#e4572e", "#17bebb", "#ffc914", "#76b041", "#8e6bbf", "#f28cb1", "#5a5a66"];
const KEY_STORAGE = "clickpipe.apiKey";
const state = { link: null };
const charts = {};

function range() {
  const seconds = Number(document.getElementById("range").value);
  const to = new Date(Date.now() + 60_000);
  const from = new Date(to.getTime() - seconds * 1000 - 60_000);
  return { from: from.toISOString(), to: to.toISOString(), granularity: document.getElementById("granularity").value };
}

class Unauthorized extends Error {}

function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE);
}

function askForKey(reason) {
  sessionStorage.removeItem(KEY_STORAGE);
  document.getElementById("login").hidden = false;
  document.getElementById("login-error").textContent = reason || "";
}

async function api(path, extra = {}) {
  const key = apiKey();
  if (!key) throw new Unauthorized("");
  const params = new URLSearchParams({ ...range(), ...extra });
  const response = await fetch(`${path}?${params}`, { headers: { Authorization: `Bearer ${key}` } });
  if (response.status === 401) {
    const body = await response.json().catch(() => ({}));
    throw new Unauthorized(body.error || "the API key was refused");
  }
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

function setOptions(select, links) {
  const options = links.map((l) => new Option(l.slug || l.link_id, l.link_id));
  select.replaceChildren(...options);
}

function chart(id, type, options = {}) {
  if (!charts[id]) {
    charts[id] = new Chart(document.getElementById(id), {
      type,
      data: { labels: [], datasets: [] },
      options: { animation: false, responsive: true, maintainAspectRatio: type !== "line", ...options },
    });
  }
  return charts[id];
}

function setData(id, type, labels, datasets, options) {
  const c = chart(id, type, options);
  c.data.labels = labels;
  c.data.datasets = datasets;
  c.update();
}

function number(id, value) {
  document.getElementById(id).textContent = value.toLocaleString("en-US");
  document.getElementById(id).dataset.value = String(value);
}

function timeLabel(iso) {
  const d = new Date(iso);
  const g = document.getElementById("granularity").value;
  return g === "hour" ? `${d.toISOString().slice(5, 10)} ${d.toISOString().slice(11, 13)}:00` : d.toISOString().slice(11, 16);
}

// Every window from the first with clicks to now, quiet ones as zero, so the line reads as time.
function filled(points) {
  if (!points.length) return [];
  const size = document.getElementById("granularity").value === "hour" ? 3_600_000 : 60_000;
  const byStart = new Map(points.map((p) => [Date.parse(p.window_start), p]));
  const first = Math.min(...byStart.keys());
  const last = Math.max(Math.max(...byStart.keys()), Math.floor(Date.now() / size) * size);
  const out = [];
  for (let t = first; t <= last && out.length < 2000; t += size) {
    out.push(byStart.get(t) || { window_start: new Date(t).toISOString(), human: 0, bot: 0 });
  }
  return out;
}

async function refresh() {
  const status = document.getElementById("status");
  try {
    const [all, countries] = await Promise.all([
      api("/api/stats/top-links", { limit: "1000" }),
      api("/api/stats/countries"),
    ]);
    number("total-clicks", countries.totals.total);
    number("human-clicks", countries.totals.human);
    number("bot-clicks", countries.totals.bot);
    number("link-count", all.links.length);
    const top = { links: all.links.slice(0, 10) };

    const select = document.getElementById("link");
    const ids = top.links.map((l) => l.link_id);
    if (select.dataset.ids !== ids.join(",")) {
      setOptions(select, top.links);
      select.dataset.ids = ids.join(",");
      if (state.link && ids.includes(state.link)) select.value = state.link;
    }
    state.link = select.value || null;

    setData("top-links-chart", "bar", top.links.map((l) => l.slug || l.link_id), [
      { label: "people", data: top.links.map((l) => l.human), backgroundColor: COLORS[0] },
      { label: "bots", data: top.links.map((l) => l.bot), backgroundColor: COLORS[1] },
    ], { indexAxis: "y", scales: { x: { stacked: true }, y: { stacked: true } } });

    const entries = Object.entries(countries.countries).slice(0, 15);
    setData("countries-chart", "bar", entries.map(([c]) => c), [
      { label: "clicks", data: entries.map(([, v]) => v.total), backgroundColor: COLORS[2] },
    ], { plugins: { legend: { display: false } } });

    setData("bots-chart", "doughnut", ["people", "bots"], [
      { data: [countries.totals.human, countries.totals.bot], backgroundColor: [COLORS[0], COLORS[1]] },
    ]);

    const current = top.links.find((l) => l.link_id === state.link);
    document.getElementById("series-title").textContent = current ? current.slug || current.link_id : "–";
    if (state.link) {
      const series = await api(`/api/stats/links/${encodeURIComponent(state.link)}`);
      const points = filled(series.series);
      setData("series-chart", "line", points.map((p) => timeLabel(p.window_start)), [
        { label: "people", data: points.map((p) => p.human), borderColor: COLORS[0], backgroundColor: COLORS[0], tension: 0.2 },
        { label: "bots", data: points.map((p) => p.bot), borderColor: COLORS[1], backgroundColor: COLORS[1], tension: 0.2 },
      ], { scales: { y: { beginAtZero: true } } });
    }
    status.textContent = `updated ${new Date().toLocaleTimeString()}`;
    document.body.dataset.refreshed = String(Date.now());
  } catch (error) {
    if (error instanceof Unauthorized) {
      askForKey(error.message);
      status.textContent = "an API key is needed";
    } else {
      status.textContent = `error: ${error.message}`;
    }
  }
}

document.getElementById("login").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = document.getElementById("api-key");
  sessionStorage.setItem(KEY_STORAGE, input.value.trim());
  input.value = "";
  document.getElementById("login").hidden = true;
  document.getElementById("login-error").textContent = "";
  refresh();
});

if (!apiKey()) askForKey("");
document.getElementById("controls").addEventListener("change", (event) => {
  if (event.target.id === "link") state.link = event.target.value;
  refresh();
});
refresh();
setInterval(refresh, REFRESH_MS);
