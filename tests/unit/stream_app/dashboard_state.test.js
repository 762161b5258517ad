// node tests/unit/stream_app/dashboard_state.test.js: the dashboard's pure helpers (test_dashboard_static runs it).
"use strict";
const assert = require("node:assert/strict");
const S = require("../../../stream_app/static/dashboard-state.js");

const zone = "Europe/Berlin";
assert.deepEqual(S.fromQuery("", zone), S.defaults(zone));
const shared = S.fromQuery("?interval=7d&tz=America/New_York&bots=all&country=de,%20-fr,xx1&device=mobile&link=a1&dimension=browsers", zone);
assert.deepEqual(shared, {
  interval: "7d", timezone: "America/New_York", bots: "all", country: "DE,-FR", device: "mobile", link: "a1", dimension: "browsers",
});
assert.equal(S.toQuery(shared, zone), "interval=7d&tz=America%2FNew_York&bots=all&country=DE%2C-FR&device=mobile&link=a1&dimension=browsers");
assert.deepEqual(S.fromQuery(`?${S.toQuery(shared, zone)}`, zone), shared);
assert.equal(S.toQuery(S.defaults(zone), zone), "");
// Bad values fall back to the defaults instead of reaching the API.
assert.deepEqual(S.fromQuery("?interval=2h&bots=maybe&tz=<x>&dimension=__proto__&device=fridge", zone), S.defaults(zone));
assert.equal(S.fromQuery("?key=secret", zone).key, undefined);

assert.equal(
  S.analyticsQuery(shared, "countries", { limit: "1000" }),
  "groupBy=countries&interval=7d&timezone=America%2FNew_York&bots=all&country=DE%2C-FR&device=mobile&link=a1&limit=1000",
);
assert.equal(S.analyticsQuery(S.defaults("UTC"), "count"), "groupBy=count&interval=24h&timezone=UTC&bots=exclude");

assert.equal(S.rowLabel("top_links", { link_id: "l1", slug: "promo" }), "promo");
assert.equal(S.rowLabel("top_links", { link_id: "l1", slug: null }), "l1");
assert.equal(S.rowLabel("referers", { referer: "news.ycombinator.com" }), "news.ycombinator.com");
assert.equal(S.rowLabel("os", { os: "iOS" }), "iOS");

assert.equal(S.shade(0, 100, 6), 0);
assert.equal(S.shade(1, 10_000, 6), 1);
assert.equal(S.shade(100, 100, 6), 6);
assert.equal(S.shade(25, 100, 6), 3);
console.log("ok");
