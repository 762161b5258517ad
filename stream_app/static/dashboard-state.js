// clickpipe dashboard, pure part: the view's state, its URL query (to share a view) and the /api/analytics
// queries it makes. No DOM here, so node can test it (`node stream_app/static/dashboard-state.test.js`).
// The API key is never part of the state: it stays in sessionStorage.
"use strict";

const DashboardState = (() => {
  const INTERVALS = ["1h", "24h", "7d", "30d", "90d", "1y", "mtd", "qtd", "ytd", "all"];
  const BOTS = ["exclude", "only", "all"];
  const DEVICES = ["", "desktop", "mobile", "tablet", "other"];
  // groupBy -> the row field holding the value, and a label for the picker and the table's first column.
  const DIMENSIONS = [
    { groupBy: "countries", field: "country", label: "Countries" },
    { groupBy: "continents", field: "continent", label: "Continents" },
    { groupBy: "regions", field: "region", label: "Regions" },
    { groupBy: "cities", field: "city", label: "Cities" },
    { groupBy: "devices", field: "device", label: "Devices" },
    { groupBy: "browsers", field: "browser", label: "Browsers" },
    { groupBy: "os", field: "os", label: "Operating systems" },
    { groupBy: "referers", field: "referer", label: "Referers" },
    { groupBy: "rules", field: "rule", label: "Destination rules" },
    { groupBy: "top_links", field: "slug", label: "Links" },
    { groupBy: "top_urls", field: "url", label: "Destination URLs" },
  ];
  // A comma list of values, each optionally prefixed by "-" (exclude), as the API takes them.
  const FILTER_LIST = /^-?[^,]+(,-?[^,]+)*$/;

  function defaults(browserZone) {
    return {
      interval: "24h",
      timezone: browserZone || "UTC",
      bots: "exclude",
      country: "",
      device: "",
      link: "",
      dimension: "countries",
    };
  }

  function oneOf(value, allowed, fallback) {
    return allowed.includes(value) ? value : fallback;
  }

  // "de, -fr" -> "DE,-FR"; anything that is not a list of two-letter codes is dropped.
  function countryList(text) {
    const items = String(text || "")
      .split(",")
      .map((item) => item.trim().toUpperCase())
      .filter((item) => /^-?[A-Z]{2}$/.test(item));
    return items.join(",");
  }

  function filterList(text) {
    const value = String(text || "").trim();
    return FILTER_LIST.test(value) ? value : "";
  }

  // The state a URL query describes, each value checked; unknown or bad values fall back to the defaults.
  function fromQuery(search, browserZone) {
    const params = new URLSearchParams(search);
    const base = defaults(browserZone);
    const get = (name) => params.get(name) ?? "";
    return {
      interval: oneOf(get("interval"), INTERVALS, base.interval),
      timezone: /^[A-Za-z0-9_+\-/]{1,64}$/.test(get("tz")) ? get("tz") : base.timezone,
      bots: oneOf(get("bots"), BOTS, base.bots),
      country: countryList(get("country")),
      device: oneOf(get("device"), DEVICES, base.device),
      link: filterList(get("link")),
      dimension: oneOf(
        get("dimension"),
        DIMENSIONS.map((d) => d.groupBy),
        base.dimension,
      ),
    };
  }

  // The URL query for a state: only what differs from the defaults, so a plain view has a plain URL.
  function toQuery(state, browserZone) {
    const base = defaults(browserZone);
    const params = new URLSearchParams();
    const names = { timezone: "tz" };
    for (const key of Object.keys(base)) {
      if (state[key] && state[key] !== base[key]) params.set(names[key] || key, state[key]);
    }
    return params.toString();
  }

  // The /api/analytics query for one groupBy under the state's filters.
  function analyticsQuery(state, groupBy, extra = {}) {
    const params = new URLSearchParams({
      groupBy,
      interval: state.interval,
      timezone: state.timezone,
      bots: state.bots,
    });
    for (const name of ["country", "device", "link"]) {
      if (state[name]) params.set(name, state[name]);
    }
    for (const [name, value] of Object.entries(extra)) params.set(name, value);
    return params.toString();
  }

  function dimension(groupBy) {
    return DIMENSIONS.find((d) => d.groupBy === groupBy) || DIMENSIONS[0];
  }

  // The text a row of a grouping shows: its value, or for a link its slug (its id when it has none).
  function rowLabel(groupBy, row) {
    if (groupBy === "top_links") return String(row.slug || row.link_id || "");
    const value = row[dimension(groupBy).field];
    return value === null || value === undefined ? "" : String(value);
  }

  // A choropleth class 0..steps for a count: square-root scaled so a few big countries do not wash out the rest.
  function shade(clicks, max, steps) {
    if (!(clicks > 0) || !(max > 0)) return 0;
    return Math.max(1, Math.min(steps, Math.ceil(Math.sqrt(clicks / max) * steps)));
  }

  return {
    INTERVALS,
    BOTS,
    DEVICES,
    DIMENSIONS,
    defaults,
    countryList,
    fromQuery,
    toQuery,
    analyticsQuery,
    dimension,
    rowLabel,
    shade,
  };
})();

if (typeof module !== "undefined") module.exports = DashboardState;
