// clickpipe dashboard, the world map: world-atlas countries (TopoJSON) projected by d3-geo into an SVG built
// with createElementNS, one path per country keyed by its ISO alpha-2 code, filled by clicks.
// Names and numbers reach the tooltip through textContent only.
"use strict";

class WorldMap {
  static STEPS = 6;
  static SVG = "http://www.w3.org/2000/svg";

  constructor(svg, tooltip, onPick) {
    this.svg = svg;
    this.tooltip = tooltip;
    this.onPick = onPick;
    this.paths = new Map(); // alpha-2 -> <path>
    this.values = new Map(); // alpha-2 -> {clicks, uniques}
  }

  // Fetch the vendored shapes and the numeric -> alpha-2 table, and draw every country unfilled.
  async load() {
    const [topology, iso] = await Promise.all([
      fetch("/static/vendor/countries-110m.json").then((r) => r.json()),
      fetch("/static/vendor/countries-110m.iso-alpha2.json").then((r) => r.json()),
    ]);
    const countries = topojson.feature(topology, topology.objects.countries);
    const width = 960;
    const height = 480;
    const projection = d3.geoNaturalEarth1().fitSize([width, height], { type: "Sphere" });
    const path = d3.geoPath(projection);
    this.svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    const group = document.createElementNS(WorldMap.SVG, "g");
    const sphere = document.createElementNS(WorldMap.SVG, "path");
    sphere.setAttribute("d", path({ type: "Sphere" }));
    sphere.setAttribute("class", "sphere");
    group.append(sphere);
    for (const feature of countries.features) {
      const code = iso.numeric[feature.id] || iso.names[feature.properties.name];
      if (!code || feature.id === "010") continue; // Antarctica takes room and gets no clicks
      const shape = document.createElementNS(WorldMap.SVG, "path");
      shape.setAttribute("d", path(feature));
      shape.setAttribute("class", "country");
      shape.dataset.code = code;
      shape.dataset.name = feature.properties.name;
      shape.addEventListener("mousemove", (event) => this.showTip(event, shape));
      shape.addEventListener("mouseleave", () => {
        this.tooltip.hidden = true;
      });
      shape.addEventListener("click", () => this.onPick(code));
      group.append(shape);
      this.paths.set(code, shape);
    }
    this.svg.replaceChildren(group);
    this.paint();
  }

  // rows: [{country, clicks, uniques}] from groupBy=countries.
  setRows(rows) {
    this.values = new Map(rows.map((row) => [String(row.country), row]));
    this.paint();
  }

  paint() {
    let max = 0;
    for (const [code, row] of this.values) if (this.paths.has(code)) max = Math.max(max, row.clicks);
    for (const [code, shape] of this.paths) {
      const row = this.values.get(code);
      const step = DashboardState.shade(row ? row.clicks : 0, max, WorldMap.STEPS);
      shape.setAttribute("class", `country shade-${step}`);
      shape.dataset.clicks = String(row ? row.clicks : 0);
    }
    this.svg.dataset.max = String(max);
    this.svg.dataset.painted = String(Date.now());
  }

  showTip(event, shape) {
    const row = this.values.get(shape.dataset.code);
    const clicks = row ? row.clicks.toLocaleString("en-US") : "0";
    const uniques = row && row.uniques !== null && row.uniques !== undefined ? row.uniques.toLocaleString("en-US") : "–";
    const name = document.createElement("strong");
    name.textContent = `${shape.dataset.name} (${shape.dataset.code})`;
    const numbers = document.createElement("span");
    numbers.textContent = `${clicks} clicks · ${uniques} uniques`;
    this.tooltip.replaceChildren(name, document.createElement("br"), numbers);
    const box = this.svg.parentElement.getBoundingClientRect();
    this.tooltip.style.left = `${event.clientX - box.left + 12}px`;
    this.tooltip.style.top = `${event.clientY - box.top + 12}px`;
    this.tooltip.hidden = false;
  }
}
