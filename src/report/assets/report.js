// meshc report: the page's script. It reads the JSON document embedded by
// `meshc report` (schema: src/report/model.rs and src/report/diff.rs) and draws
// one view per hash route. Every string from the data is untrusted: it reaches
// the page through textContent / createElement only, never as markup.
"use strict";
(function () {
  const START = performance.now();
  const DATA = JSON.parse(document.getElementById("meshc-data").textContent);
  const MAIN = document.getElementById("main");
  const SEARCH = document.getElementById("search");
  const RESULTS = document.getElementById("search-results");
  const SVG_NS = document.getElementById("svg-template").content.firstElementChild.namespaceURI;

  /** How many rows a paged list shows at first, and adds per "show more". */
  const PAGE = 50;
  /** How many chips one zone box shows before a "show more" button. */
  const CHIP_PAGE = 400;
  /** Most edges drawn for a selected service (the lists in the panel are complete). */
  const MAX_EDGES = 300;
  /** Denied pairs drawn in the graph only up to this many (the panel lists them all). */
  const MAX_DENIED_EDGES = 20;
  /** The access verdicts that let a call through. */
  const ALLOWING = new Set(["A", "S", "P", "O"]);
  /** The CSS class (and variable) of a verdict character. */
  const VERDICT_CLASS = { A: "v-A", S: "v-S", P: "v-P", D: "v-D", O: "v-O", "-": "v-none" };

  /** What the UI remembers between renders (the route is in the hash). */
  const state = {
    query: "",
    filters: { mesh: "", zone: "", kind: "" },
    selected: null, // the service selected in the graph
    matrixZoom: 0, // 0 = fit
    pendingG: 0, // time of a `g` keypress waiting for its second key
    view: null, // the view drawn last
  };

  // ---------------------------------------------------------------- DOM helpers

  /** An element with properties (`class`, `text`, `dataset`, `on<event>`, attributes) and children. */
  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") el.className = value;
      else if (key === "text") el.textContent = value;
      else if (key === "dataset") Object.assign(el.dataset, value);
      else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
      else el.setAttribute(key, value === true ? "" : String(value));
    }
    append(el, children);
    return el;
  }

  /** Appends nodes and strings (as text) to `el`, skipping null and false. */
  function append(el, children) {
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : String(child));
    }
    return el;
  }

  function link(href, text, props) {
    return h("a", Object.assign({ href }, props), text);
  }

  function tag(text, cls) {
    return h("span", { class: "tag " + (cls || "") }, text);
  }

  /** `_` in a diff: the pair did not exist before. */
  const ABSENT = "_";

  function verdictMeaning(ch) {
    return ch === ABSENT ? "the pair did not exist" : (DATA.access.legend || {})[ch] || ch;
  }

  function verdictBadge(ch) {
    const meaning = verdictMeaning(ch);
    return h("span", { class: "verdict " + (VERDICT_CLASS[ch] || "v-none"), title: meaning }, ch);
  }

  /** A table: `head` is a list of column titles, `rows` a list of cell lists. */
  function table(head, rows, caption) {
    return h(
      "table",
      null,
      caption ? h("caption", { class: "sr-only" }, caption) : null,
      h("thead", null, h("tr", null, head.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", null, rows.map((cells) => h("tr", null, cells.map((c) => h("td", null, c)))))
    );
  }

  /** A definition list of [term, value] pairs (pairs with a null value are left out). */
  function facts(pairs) {
    return h(
      "dl",
      { class: "facts" },
      pairs.filter((p) => p[1] !== null && p[1] !== undefined).map(([t, v]) => [h("dt", null, t), h("dd", null, v)])
    );
  }

  /** Renders `items` with `renderItem` into `container`, PAGE at a time, with a "show more" button. */
  function paged(container, items, renderItem, pageSize) {
    const size = pageSize || PAGE;
    let shown = 0;
    const more = h("button", { type: "button", class: "more" });
    function showMore() {
      const next = items.slice(shown, shown + size);
      const firstNew = next.length ? renderItem(next[0], shown) : null;
      if (firstNew) container.append(firstNew);
      next.slice(1).forEach((item, i) => container.append(renderItem(item, shown + 1 + i)));
      shown += next.length;
      const left = items.length - shown;
      more.hidden = left <= 0;
      more.textContent = `Show ${Math.min(size, left)} more (${left} left)`;
      return firstNew;
    }
    more.addEventListener("click", () => {
      const first = showMore();
      const focusable = first && (first.matches("a, button") ? first : first.querySelector("a, button"));
      if (focusable) focusable.focus();
    });
    showMore();
    return more;
  }

  /** A <details> whose body is built the first time it opens (or before printing). */
  const lazyFills = new WeakMap();
  function lazyDetails(cls, summary, fill, open) {
    const body = h("div", { class: "body" });
    const details = h("details", { class: cls, dataset: { lazy: "1" } }, h("summary", null, summary), body);
    const run = () => {
      if (lazyFills.has(details)) {
        lazyFills.delete(details);
        append(body, [fill()]);
      }
    };
    lazyFills.set(details, run);
    details.addEventListener("toggle", () => details.open && run());
    if (open) {
      details.open = true;
      run();
    }
    return details;
  }

  function sourceText(row) {
    if (!row.file) return null;
    return row.line ? `${row.file}:${row.line}` : row.file;
  }

  function plural(n, word, many) {
    return `${n} ${n === 1 ? word : many || word + "s"}`;
  }

  // ---------------------------------------------------------------- data indexes (built on demand)

  const cache = {};
  /** Memoizes `build()` under `key`. */
  function lazy(key, build) {
    if (!(key in cache)) cache[key] = build();
    return cache[key];
  }

  /** proxy dir -> index into proxies. */
  function proxyByDir() {
    return lazy("proxyByDir", () => new Map(DATA.proxies.map((p, i) => [p.dir, i])));
  }

  /** service index -> its position among access clients / destinations. */
  function accessPositions() {
    return lazy("accessPositions", () => {
      const client = new Map(DATA.access.clients.map((s, i) => [s, i]));
      const destination = new Map(DATA.access.destinations.map((s, j) => [s, j]));
      return { client, destination };
    });
  }

  /** The verdict character of client service `c` calling destination service `d`. */
  function verdict(c, d) {
    const pos = accessPositions();
    const i = pos.client.get(c);
    const j = pos.destination.get(d);
    if (i === undefined || j === undefined) return "-";
    const row = DATA.access.rows[DATA.access.row_of[j]];
    return (row && row[i]) || "-";
  }

  /** Who may call service `s` and what it may call: lists of [service, verdict], undecided pairs left out. */
  function accessOf(s) {
    const callers = [];
    const callees = [];
    const pos = accessPositions();
    const j = pos.destination.get(s);
    if (j !== undefined) {
      const row = DATA.access.rows[DATA.access.row_of[j]] || "";
      DATA.access.clients.forEach((c, i) => row[i] && row[i] !== "-" && callers.push([c, row[i]]));
    }
    const i = pos.client.get(s);
    if (i !== undefined) {
      DATA.access.destinations.forEach((d, jj) => {
        const v = (DATA.access.rows[DATA.access.row_of[jj]] || "")[i];
        if (v && v !== "-") callees.push([d, v]);
      });
    }
    return { callers, callees };
  }

  /** For each `matched` set, the policies in it (a Set), so "does p select proxy x" is cheap. */
  function matchedSets() {
    return lazy("matchedSets", () => DATA.matched.map((kinds) => new Set(kinds.flatMap((k) => k.policies))));
  }

  /** The proxies policy `p` selects (indices), computed from the proxies' `matched`. */
  function proxiesSelectedBy(p) {
    const sets = matchedSets();
    const hits = new Set();
    sets.forEach((set, m) => set.has(p) && hits.add(m));
    const out = [];
    DATA.proxies.forEach((proxy, i) => proxy.matched !== undefined && hits.has(proxy.matched) && out.push(i));
    return out;
  }

  /** Policies grouped by mesh then kind (indices). */
  function policiesByMeshKind() {
    return lazy("policiesByMeshKind", () => {
      const out = new Map();
      DATA.policies.forEach((p, i) => {
        const key = p.mesh + "\u0000" + p.kind;
        if (!out.has(key)) out.set(key, []);
        out.get(key).push(i);
      });
      return out;
    });
  }

  /** The zone of a service or proxy as shown ("no zone" for null). */
  function zoneName(zone) {
    return zone === null || zone === undefined ? "no zone" : zone;
  }

  function serviceLabel(s) {
    const svc = DATA.services[s];
    return svc.namespace ? `${svc.name}.${svc.namespace}` : svc.name;
  }

  // ---------------------------------------------------------------- links

  function proxyHref(i) {
    return "#/proxy/" + DATA.proxies[i].dir.split("/").map(encodeURIComponent).join("/");
  }

  function proxyLink(i) {
    return link(proxyHref(i), DATA.proxies[i].name);
  }

  function policyLink(i) {
    const p = DATA.policies[i];
    if (!p) return h("span", { class: "muted" }, `policy #${i}`);
    return link("#/policy/" + i, p.label);
  }

  function serviceLink(s, withMeta) {
    const svc = DATA.services[s];
    if (!svc) return h("span", { class: "muted" }, `service #${s}`);
    const a = link("#/service/" + s, serviceLabel(s));
    if (!withMeta) return a;
    return h("span", null, a, svc.kind === "MeshService" ? null : tag(svc.kind), svc.zone ? tag(svc.zone) : null);
  }

  // ---------------------------------------------------------------- routing

  /** The route in the hash: a view name, an argument and query parameters. */
  function parseRoute() {
    const raw = location.hash.replace(/^#\/?/, "");
    const [path, query] = raw.split("?");
    const params = new URLSearchParams(query || "");
    const [head, ...rest] = path.split("/");
    const arg = safeDecode(rest.join("/"));
    const views = {
      "": "overview",
      services: "services",
      matrix: "matrix",
      proxies: "proxies",
      proxy: "proxy",
      policies: "policies",
      policy: "policy",
      service: "service",
      diff: "diff",
    };
    return { view: views[head] || "notfound", arg, params };
  }

  function safeDecode(text) {
    try {
      return decodeURIComponent(text);
    } catch (_) {
      return text;
    }
  }

  const RENDERERS = {
    overview: renderOverview,
    services: renderServices,
    matrix: renderMatrix,
    proxies: renderProxies,
    proxy: renderProxy,
    policies: renderPolicies,
    policy: renderPolicy,
    service: renderService,
    diff: renderDiff,
    notfound: renderNotFound,
  };

  /** Draws the view the hash names into <main>. */
  function render() {
    const route = parseRoute();
    for (const key of ["mesh", "zone", "kind"]) {
      if (route.params.has(key)) state.filters[key] = route.params.get(key);
    }
    closeSearchResults();
    // A search filters the view it was typed in: another view starts unfiltered.
    if (state.view !== null && state.view !== route.view && document.activeElement !== SEARCH) {
      state.query = "";
      SEARCH.value = "";
    }
    state.view = route.view;
    refreshList = null;
    MAIN.replaceChildren();
    MAIN.dataset.view = route.view === "notfound" ? "overview" : route.view;
    if (DATA.has_errors && route.view !== "overview") MAIN.append(errorsBanner());
    RENDERERS[route.view](route);
    markCurrentNav(route.view);
    const h1 = MAIN.querySelector("h1");
    if (h1) document.title = `${h1.textContent} · meshc report`;
  }

  function markCurrentNav(view) {
    const group = { proxy: "proxies", policy: "policies", service: "services" }[view] || view;
    document.querySelectorAll("#nav a").forEach((a) => {
      if (a.dataset.nav === group) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    });
  }

  /** After a navigation (not the first render), the new view's heading takes the focus. */
  function onHashChange() {
    render();
    window.scrollTo(0, 0);
    if (document.activeElement !== SEARCH) {
      const h1 = MAIN.querySelector("h1");
      if (h1) {
        h1.tabIndex = -1;
        h1.focus({ preventScroll: true });
      }
    }
  }

  function go(hash) {
    if (location.hash === hash) render();
    else location.hash = hash;
  }

  // ---------------------------------------------------------------- overview

  function errorsBanner() {
    return h(
      "div",
      { class: "banner error", role: "alert" },
      h("strong", null, `meshc compile refuses this input: ${plural(DATA.counts.errors, "error")}.`),
      "The service graph, matrix, proxies and policies need the errors fixed first; the findings below say where."
    );
  }

  function renderOverview() {
    MAIN.append(
      h("h1", null, "Overview"),
      h("p", { class: "sub" }, `${DATA.tool} · ${DATA.inputs.join(" ")}`)
    );
    if (DATA.has_errors) MAIN.append(errorsBanner());
    if (DATA.diff) MAIN.append(diffSummary(DATA.diff, true));
    if (DATA.findings.length) MAIN.append(findingsSection(DATA.findings, "Findings"));
    MAIN.append(countTiles(), meshesSection(), zonesSection());
  }

  function countTiles() {
    const tiles = [
      [DATA.files, "files"],
      [DATA.resources, "resources"],
      [DATA.meshes.length, "meshes"],
      [DATA.zones.length, "zones"],
      [DATA.services.length, "services", "#/services"],
      [DATA.proxies.length, "proxies", "#/proxies"],
      [DATA.policies.length, "policies", "#/policies"],
      [DATA.counts.errors, "errors"],
      [DATA.counts.warnings, "warnings"],
      [DATA.counts.infos, "infos"],
    ];
    return h(
      "ul",
      { class: "tiles", "aria-label": "Counts" },
      tiles.map(([n, label, href]) =>
        h("li", null, h("span", { class: "n" }, String(n)), href ? link(href, label, { class: "l" }) : h("span", { class: "l" }, label))
      )
    );
  }

  function findingsSection(findings, title) {
    const section = h("section", { "aria-label": title }, h("h2", null, `${title} (${findings.length})`));
    const body = h("tbody");
    const more = paged(body, findings, findingRow, 100);
    section.append(
      h(
        "table",
        null,
        h("thead", null, h("tr", null, ["Level", "Code", "Message", "Where", "Resource"].map((c) => h("th", { scope: "col" }, c)))),
        body
      ),
      more
    );
    return section;
  }

  function findingRow(f) {
    const where = f.file ? `${f.file}${f.line ? ":" + f.line : ""}${f.column ? ":" + f.column : ""}` : "";
    return h(
      "tr",
      null,
      h("td", null, tag(f.level, f.level)),
      h("td", null, h("code", null, f.code)),
      h("td", null, h("strong", null, f.title), f.title ? ": " : "", f.message),
      h("td", null, h("code", null, where)),
      h("td", null, f.resource || "")
    );
  }

  function meshesSection() {
    const rows = DATA.meshes.map((m) => [
      link("#/services?mesh=" + encodeURIComponent(m.name), m.name),
      m.mtls || h("span", { class: "muted" }, "off (MeshTrafficPermission not enforced)"),
      m.mtls_mode || "",
      m.passthrough ? "on" : "off",
      m.zone_egress ? "on" : "off",
      String(m.services),
      String(m.proxies),
      String(m.policies),
    ]);
    return h(
      "section",
      { "aria-label": "Meshes" },
      h("h2", null, `Meshes (${DATA.meshes.length})`),
      table(["Mesh", "mTLS backend", "mTLS mode", "Passthrough", "Zone egress", "Services", "Proxies", "Policies"], rows)
    );
  }

  function zonesSection() {
    const counts = new Map(DATA.zones.map((z) => [z, { services: 0, proxies: 0 }]));
    const bump = (zone, what) => zone && counts.has(zone) && counts.get(zone)[what]++;
    DATA.services.forEach((s) => bump(s.zone, "services"));
    DATA.proxies.forEach((p) => bump(p.zone, "proxies"));
    const section = h("section", { "aria-label": "Zones" }, h("h2", null, `Zones (${DATA.zones.length})`));
    if (!DATA.zones.length) {
      section.append(h("p", { class: "muted" }, "Single zone: no resource names a zone."));
      return section;
    }
    const rows = DATA.zones.map((z) => [
      link("#/services?zone=" + encodeURIComponent(z), z),
      String(counts.get(z).services),
      String(counts.get(z).proxies),
    ]);
    section.append(table(["Zone", "Services", "Proxies"], rows));
    return section;
  }

  function diffSummary(diff, withLink) {
    const changed = (status) => diff.proxies.filter((p) => p.status === status).length;
    const items = [
      [changed("changed"), "proxies changed"],
      [changed("added"), "proxies added"],
      [changed("removed"), "proxies removed"],
      [diff.access_total, "access changes"],
      [diff.findings_added.length, "findings added"],
      [diff.findings_removed.length, "findings removed"],
      [diff.services_added.length + diff.services_removed.length, "services added or removed"],
      [diff.policies_added.length + diff.policies_removed.length, "policies added or removed"],
    ];
    return h(
      "section",
      { class: "banner diff", "aria-label": "Changes" },
      h("strong", null, `Against ${diff.against}:`),
      h("ul", { class: "tiles" }, items.map(([n, l]) => h("li", null, h("span", { class: "n" }, String(n)), h("span", { class: "l" }, l)))),
      withLink ? link("#/diff", "Open the diff view") : null
    );
  }

  // ---------------------------------------------------------------- filters shared by list views

  /** A <select> bound to `state.filters[key]`, re-rendering via `onChange`. */
  function filterSelect(label, key, values, onChange) {
    const select = h(
      "select",
      {
        "aria-label": label,
        onchange: (e) => {
          state.filters[key] = e.target.value;
          onChange();
        },
      },
      h("option", { value: "" }, "all"),
      values.map((v) => h("option", { value: v }, v === "" ? "no zone" : v))
    );
    select.value = values.includes(state.filters[key]) ? state.filters[key] : "";
    state.filters[key] = select.value;
    return h("label", null, label, select);
  }

  function meshNames() {
    return DATA.meshes.map((m) => m.name);
  }

  /** True when `text` (lowercased haystack) holds every word of the search query. */
  function matchesQuery(text) {
    const q = state.query.trim().toLowerCase();
    if (!q) return true;
    return q.split(/\s+/).every((word) => text.includes(word));
  }

  function serviceMatches(s) {
    const svc = DATA.services[s];
    const f = state.filters;
    if (f.mesh && svc.mesh !== f.mesh) return false;
    if (f.zone && (svc.zone || "") !== (f.zone === "no zone" ? "" : f.zone)) return false;
    if (f.kind && svc.kind !== f.kind) return false;
    return matchesQuery(`${svc.name} ${svc.namespace || ""} ${svc.mesh} ${svc.zone || "no zone"} ${svc.kind}`.toLowerCase());
  }

  /** The views whose list the search box filters (elsewhere it shows a result list). */
  const FILTERING_VIEWS = new Set(["services", "proxies", "policies"]);
  let refreshList = null; // set by the current list view

  // ---------------------------------------------------------------- service graph

  function renderServices() {
    MAIN.append(
      h("h1", null, "Service graph"),
      h(
        "p",
        { class: "sub" },
        "Services grouped by mesh and zone. Select a service to see who may call it and what it may call " +
          "(MeshTrafficPermission); the matrix shows every pair at once."
      )
    );
    const kinds = [...new Set(DATA.services.map((s) => s.kind))];
    const zones = [...DATA.zones, "no zone"];
    const count = h("span", { class: "muted", role: "status" });
    const toolbar = h(
      "div",
      { class: "toolbar" },
      filterSelect("Mesh", "mesh", meshNames(), () => drawGraph()),
      filterSelect("Zone", "zone", zones, () => drawGraph()),
      filterSelect("Kind", "kind", kinds, () => drawGraph()),
      count,
      edgeLegend()
    );
    const graph = h("div", { id: "graph", "aria-label": "Services by mesh and zone" });
    const panel = h("aside", { class: "panel", hidden: true, "aria-label": "Selected service" });
    MAIN.append(toolbar, h("div", { class: "graph-layout" }, graph, panel));

    function drawGraph() {
      const shown = DATA.services.map((_, i) => i).filter(serviceMatches);
      count.textContent = `${shown.length} of ${DATA.services.length} services`;
      graph.replaceChildren(...graphGroups(shown), passthroughSection());
      graph.append(document.getElementById("svg-template").content.firstElementChild.cloneNode(true));
      applySelection(graph, panel);
    }
    refreshList = drawGraph;
    graph.addEventListener("click", (e) => {
      const chip = e.target.closest(".chip[data-service]");
      if (chip) selectService(Number(chip.dataset.service), graph, panel);
    });
    graph.addEventListener("keydown", chipArrowKeys);
    graph.addEventListener("toggle", () => drawEdges(graph), true);
    drawGraph();
  }

  function edgeLegend() {
    const entries = [
      ["var(--v-A)", "may call / be called"],
      ["var(--v-P)", "partly"],
      ["var(--v-D)", "denied"],
      ["var(--v-O)", "open (mTLS off)"],
    ];
    return h(
      "ul",
      { class: "legend", "aria-label": "Edge colors" },
      entries.map(([color, text]) => h("li", null, h("span", { class: "swatch", style: `background:${color}` }), text))
    );
  }

  /** One section per mesh, one collapsible box per zone, one chip per service. */
  function graphGroups(shown) {
    const meshes = new Map();
    for (const s of shown) {
      const svc = DATA.services[s];
      if (!meshes.has(svc.mesh)) meshes.set(svc.mesh, new Map());
      const zones = meshes.get(svc.mesh);
      const zone = zoneName(svc.zone);
      if (!zones.has(zone)) zones.set(zone, []);
      zones.get(zone).push(s);
    }
    if (!meshes.size) return [h("p", { class: "muted" }, "No service matches the filters.")];
    return [...meshes].map(([mesh, zones]) =>
      h(
        "section",
        { class: "mesh-group", "aria-label": `Mesh ${mesh}` },
        h("h2", null, "Mesh ", mesh),
        h("div", { class: "zones" }, [...zones].map(([zone, services]) => zoneBox(zone, services)))
      )
    );
  }

  function zoneBox(zone, services) {
    const chips = h("div", { class: "chips", role: "group", "aria-label": `Services in ${zone}` });
    const more = paged(chips, services, serviceChip, CHIP_PAGE);
    const box = h("details", { class: services.length > 12 ? "zone wide" : "zone", open: true }, h("summary", null, `${zone} · ${plural(services.length, "service")}`), chips, more);
    const first = chips.querySelector(".chip");
    if (first) first.tabIndex = 0;
    return box;
  }

  function serviceChip(s) {
    const svc = DATA.services[s];
    const short = { MeshService: "", MeshExternalService: "ext", MeshMultiZoneService: "multi-zone", "kuma.io/service": "" }[svc.kind];
    return h(
      "button",
      {
        type: "button",
        class: "chip",
        tabindex: "-1",
        "aria-pressed": "false",
        title: `${svc.kind} ${serviceLabel(s)} (mesh ${svc.mesh}, ${zoneName(svc.zone)})`,
        dataset: { service: String(s), kind: svc.kind },
      },
      serviceLabel(s),
      short ? h("span", { class: "k" }, short) : null
    );
  }

  /** Arrow keys move between the chips of a zone box (a roving tabindex). */
  function chipArrowKeys(e) {
    const chip = e.target.closest(".chip");
    if (!chip || !["ArrowRight", "ArrowLeft", "ArrowDown", "ArrowUp", "Home", "End"].includes(e.key)) return;
    const chips = [...chip.parentElement.querySelectorAll(".chip")];
    const at = chips.indexOf(chip);
    const step = e.key === "ArrowRight" || e.key === "ArrowDown" ? 1 : -1;
    let next = at + step;
    if (e.key === "Home") next = 0;
    if (e.key === "End") next = chips.length - 1;
    const target = chips[Math.max(0, Math.min(chips.length - 1, next))];
    e.preventDefault();
    chip.tabIndex = -1;
    target.tabIndex = 0;
    target.focus();
  }

  /** Passthrough destinations (what proxies may reach outside the mesh), per mesh. */
  function passthroughSection() {
    const byDestination = new Map();
    DATA.proxies.forEach((p, i) => {
      if (state.filters.mesh && p.mesh !== state.filters.mesh) return;
      for (const d of (p.passthrough && p.passthrough.destinations) || []) {
        if (!matchesQuery(d.toLowerCase())) continue;
        const key = `${p.mesh}\u0000${d}`;
        if (!byDestination.has(key)) byDestination.set(key, []);
        byDestination.get(key).push(i);
      }
    });
    if (!byDestination.size) return "";
    const section = h("section", { "aria-label": "Passthrough destinations" }, h("h2", null, "Passthrough destinations"));
    const list = h("ul", { class: "plain" });
    for (const [key, proxies] of byDestination) {
      const [mesh, dest] = key.split("\u0000");
      const item = h("li", null, h("span", { class: "chip external" }, dest), tag("mesh " + mesh), " reached by ");
      proxies.slice(0, 5).forEach((p, n) => item.append(n ? ", " : "", proxyLink(p)));
      if (proxies.length > 5) item.append(` and ${proxies.length - 5} more`);
      list.append(item);
    }
    section.append(h("p", { class: "hint" }, "MeshPassthrough lets these proxies reach them outside the mesh."), list);
    return section;
  }

  function selectService(s, graph, panel) {
    state.selected = state.selected === s ? null : s;
    applySelection(graph, panel);
  }

  /** Marks the selected chip, its callers and callees, fills the panel and draws the edges. */
  function applySelection(graph, panel) {
    graph.querySelectorAll(".chip[data-service]").forEach((c) => {
      c.classList.remove("caller", "callee", "denied");
      c.setAttribute("aria-pressed", "false");
    });
    const s = state.selected;
    graph.classList.toggle("graph-dim", s !== null);
    if (s === null || !DATA.services[s]) {
      panel.hidden = true;
      drawEdges(graph);
      return;
    }
    const { callers, callees } = accessOf(s);
    const byIndex = (i) => graph.querySelector(`.chip[data-service="${i}"]`);
    const mine = byIndex(s);
    if (mine) mine.setAttribute("aria-pressed", "true");
    const mark = (pairs, cls) => pairs.forEach(([x, v]) => byIndex(x) && byIndex(x).classList.add(ALLOWING.has(v) ? cls : "denied"));
    const shown = graphPairs(callers, callees);
    mark(shown.filter(([, v]) => v === "D"), "denied");
    shown.filter(([, v]) => ALLOWING.has(v)).forEach(([x]) => byIndex(x) && byIndex(x).classList.remove("denied"));
    mark(callers.filter(([, v]) => ALLOWING.has(v)), "caller");
    mark(callees.filter(([, v]) => ALLOWING.has(v)), "callee");
    panel.hidden = false;
    panel.replaceChildren(
      h("button", { type: "button", class: "close", "aria-label": "Close the panel", onclick: () => closePanel(graph, panel) }, "×"),
      h("h2", null, serviceLabel(s)),
      serviceFacts(s),
      link("#/service/" + s, "Open the service page"),
      accessLists(callers, callees)
    );
    drawEdges(graph);
  }

  function closePanel(graph, panel) {
    const s = state.selected;
    state.selected = null;
    applySelection(graph, panel);
    const chip = graph.querySelector(`.chip[data-service="${s}"]`);
    if (chip) chip.focus();
  }

  /** SVG lines from the selected chip to the chips of its callers and callees (only those shown). */
  function drawEdges(graph) {
    const svg = graph.querySelector("svg.edges");
    if (!svg) return;
    svg.replaceChildren();
    const s = state.selected;
    if (s === null) return;
    const from = visibleChip(graph, s);
    if (!from) return;
    const origin = graph.getBoundingClientRect();
    const center = (el) => {
      const r = el.getBoundingClientRect();
      return [r.left + r.width / 2 - origin.left, r.top + r.height / 2 - origin.top];
    };
    const [x1, y1] = center(from);
    const { callers, callees } = accessOf(s);
    let drawn = 0;
    for (const [other, v] of graphPairs(callers, callees)) {
      if (other === s || drawn >= MAX_EDGES) continue;
      const to = visibleChip(graph, other);
      if (!to) continue;
      const [x2, y2] = center(to);
      const cls = { A: "allow", S: "allow", P: "partial", D: "deny", O: "open" }[v] || "allow";
      svg.append(edgePath(x1, y1, x2, y2, cls));
      drawn++;
    }
  }

  /** A curved SVG edge (a quadratic curve bent sideways, so edges along one row stay apart). */
  function edgePath(x1, y1, x2, y2, cls) {
    const bend = 0.25;
    const mx = (x1 + x2) / 2 - (y2 - y1) * bend;
    const my = (y1 + y2) / 2 + (x2 - x1) * bend;
    const path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", `M${x1},${y1} Q${mx},${my} ${x2},${y2}`);
    path.setAttribute("class", cls);
    return path;
  }

  /** The pairs the graph draws: every allowing one, the denied ones only when few (else a hairball). */
  function graphPairs(callers, callees) {
    const all = callers.concat(callees);
    const denied = all.filter(([, v]) => v === "D");
    return denied.length <= MAX_DENIED_EDGES ? all : all.filter(([, v]) => v !== "D");
  }

  function visibleChip(graph, s) {
    const chip = graph.querySelector(`.chip[data-service="${s}"]`);
    return chip && chip.offsetParent !== null ? chip : null;
  }

  function serviceFacts(s) {
    const svc = DATA.services[s];
    return facts([
      ["Kind", svc.kind + (svc.generated ? " (generated from kuma.io/service tags)" : "")],
      ["Mesh", svc.mesh],
      ["Zone", zoneName(svc.zone)],
      ["Namespace", svc.namespace || null],
      ["Ports", svc.ports.map((p) => `${p.port}${p.name ? " (" + p.name + ")" : ""} ${p.protocol}, ${plural(p.endpoints, "endpoint")}`).join("; ") || "none"],
      ["VIPs", svc.vips.join(", ") || null],
      ["Hostnames", svc.hostnames.length ? h("ul", { class: "plain" }, svc.hostnames.map((n) => h("li", null, h("code", null, n)))) : null],
      ["Source", sourceText(svc)],
    ]);
  }

  /** "Who may call it" (allowed / denied) and "what it may call", as paged link lists. */
  function accessLists(callers, callees) {
    const out = h("div");
    const list = (title, pairs) => {
      out.append(h("h3", null, `${title} (${pairs.length})`));
      if (!pairs.length) {
        out.append(h("p", { class: "muted" }, "none"));
        return;
      }
      const ul = h("ul", { class: "plain" });
      out.append(ul, paged(ul, pairs, ([s, v]) => h("li", null, verdictBadge(v), " ", serviceLink(s, true))));
    };
    list("May be called by", callers.filter(([, v]) => ALLOWING.has(v)));
    list("Denied callers", callers.filter(([, v]) => v === "D"));
    list("May call", callees.filter(([, v]) => ALLOWING.has(v)));
    list("Denied from calling", callees.filter(([, v]) => v === "D"));
    return out;
  }

  // ---------------------------------------------------------------- service page

  function renderService(route) {
    const s = Number(route.arg);
    const svc = Number.isInteger(s) ? DATA.services[s] : undefined;
    if (!svc) return renderNotFound(route);
    MAIN.append(
      h("h1", null, `${svc.kind} ${serviceLabel(s)}`),
      h("p", { class: "sub" }, `mesh ${svc.mesh} · ${zoneName(svc.zone)} · `, link(`#/services?mesh=${encodeURIComponent(svc.mesh)}`, "show the mesh's graph")),
      serviceFacts(s)
    );
    MAIN.append(h("h2", null, "Ports"));
    MAIN.append(
      svc.ports.length
        ? table(["Port", "Name", "Protocol", "Endpoints"], svc.ports.map((p) => [String(p.port), p.name || "", p.protocol, String(p.endpoints)]))
        : h("p", { class: "muted" }, "none")
    );
    MAIN.append(h("h2", null, `Backing proxies (${svc.proxies.length})`));
    if (svc.proxies.length) {
      const ul = h("ul", { class: "plain" });
      MAIN.append(ul, paged(ul, svc.proxies, (p) => h("li", null, proxyLink(p), DATA.proxies[p].zone ? tag(DATA.proxies[p].zone) : null)));
    } else {
      MAIN.append(h("p", { class: "muted" }, "No proxy of the input backs it."));
    }
    const { callers, callees } = accessOf(s);
    MAIN.append(h("h2", null, "Access (MeshTrafficPermission)"), accessLists(callers, callees));
  }

  // ---------------------------------------------------------------- access matrix

  /** Services ordered by mesh, then zone, then their report order; with group boundaries. */
  function groupOrder(indices) {
    const key = (s) => `${DATA.services[s].mesh}\u0000${DATA.services[s].zone || ""}`;
    const sorted = indices.slice().sort((a, b) => {
      const ka = key(DATA.services[a] ? a : 0);
      const kb = key(DATA.services[b] ? b : 0);
      return ka < kb ? -1 : ka > kb ? 1 : a - b;
    });
    const breaks = [];
    sorted.forEach((s, n) => n && key(s) !== key(sorted[n - 1]) && breaks.push(n));
    return { order: sorted, breaks };
  }

  function renderMatrix() {
    MAIN.append(
      h("h1", null, "Access matrix"),
      h("p", { class: "sub" }, "Rows: calling services (with proxies). Columns: destinations. Colored by what MeshTrafficPermission decides; lines separate mesh and zone groups.")
    );
    const canvas = h("canvas", { id: "matrix", tabindex: "0", role: "img" });
    const tip = h("div", { class: "tooltip", hidden: true, role: "status" });
    const rowLabels = h("div", { class: "matrix-rows", "aria-hidden": "true" });
    const colLabels = h("div", { class: "matrix-cols", "aria-hidden": "true" });
    const grid = h("div", { class: "matrix-grid" }, h("div"), colLabels, rowLabels, canvas);
    const wrap = h("div", { class: "matrix-wrap" }, grid, tip);
    const status = h("p", { class: "muted", "aria-live": "polite" });
    const toolbar = h(
      "div",
      { class: "toolbar" },
      filterSelect("Mesh", "mesh", meshNames(), () => draw()),
      h("button", { type: "button", onclick: () => zoom(1), "aria-label": "Zoom in" }, "+"),
      h("button", { type: "button", onclick: () => zoom(-1), "aria-label": "Zoom out" }, "−"),
      matrixLegend()
    );
    MAIN.append(toolbar, wrap, status);
    const view = { rows: null, cols: null, cell: 1, cursor: [0, 0] };

    function draw() {
      const meshOk = (s) => !state.filters.mesh || DATA.services[s].mesh === state.filters.mesh;
      view.rows = groupOrder(DATA.access.clients.filter(meshOk));
      view.cols = groupOrder(DATA.access.destinations.filter(meshOk));
      view.cell = cellSize(view.cols.order.length, view.rows.order.length, wrap);
      paintMatrix(canvas, view);
      matrixLabels(rowLabels, colLabels, view);
      canvas.setAttribute(
        "aria-label",
        `Access matrix: ${view.rows.order.length} calling services by ${view.cols.order.length} destinations. ` +
          "Arrow keys move between cells, Enter opens the destination."
      );
      status.textContent = `${view.rows.order.length} × ${view.cols.order.length} pairs, ${view.cell}px per cell.`;
    }
    function zoom(step) {
      state.matrixZoom = Math.max(1, Math.min(24, (state.matrixZoom || view.cell) + step * Math.max(1, Math.floor((state.matrixZoom || view.cell) / 3))));
      draw();
    }
    canvas.addEventListener("mousemove", (e) => showCell(cellAt(e), e.offsetX, e.offsetY));
    canvas.addEventListener("mouseleave", () => (tip.hidden = true));
    canvas.addEventListener("click", (e) => openCell(cellAt(e)));
    canvas.addEventListener("keydown", matrixKeys);
    canvas.addEventListener("blur", () => (tip.hidden = true));

    function cellAt(e) {
      return [Math.floor(e.offsetY / view.cell), Math.floor(e.offsetX / view.cell)];
    }
    function pairAt([r, c]) {
      const client = view.rows.order[r];
      const dest = view.cols.order[c];
      return client === undefined || dest === undefined ? null : [client, dest];
    }
    function showCell(cell, x, y) {
      const pair = pairAt(cell);
      if (!pair) {
        tip.hidden = true;
        return;
      }
      const v = verdict(pair[0], pair[1]);
      tip.textContent = `${serviceLabel(pair[0])} → ${serviceLabel(pair[1])}: ${(DATA.access.legend || {})[v] || v}`;
      tip.hidden = false;
      tip.style.left = `${canvas.offsetLeft + x + 14}px`;
      tip.style.top = `${canvas.offsetTop + y + 14}px`;
    }
    function openCell(cell) {
      const pair = pairAt(cell);
      if (pair) go("#/service/" + pair[1]);
    }
    /** Arrow keys move a cursor cell (Shift: 10 at a time); Enter opens its destination. */
    function matrixKeys(e) {
      const moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
      if (e.key === "Enter") return openCell(view.cursor);
      if (!moves[e.key]) return;
      e.preventDefault();
      const n = e.shiftKey ? 10 : 1;
      const [dr, dc] = moves[e.key];
      const r = Math.max(0, Math.min(view.rows.order.length - 1, view.cursor[0] + dr * n));
      const c = Math.max(0, Math.min(view.cols.order.length - 1, view.cursor[1] + dc * n));
      view.cursor = [r, c];
      paintMatrix(canvas, view);
      showCell(view.cursor, c * view.cell, r * view.cell);
      status.textContent = tip.textContent;
    }
    draw();
  }

  /** The smallest cell that still holds a readable name beside it. */
  const LABELLED_CELL = 12;

  /**
   * Service names beside the rows and above the columns, when the cells are big enough
   * to read them (a large mesh is read through the tooltip, the keyboard and the zoom).
   */
  function matrixLabels(rowLabels, colLabels, view) {
    const show = view.cell >= LABELLED_CELL;
    rowLabels.replaceChildren();
    colLabels.replaceChildren();
    rowLabels.hidden = colLabels.hidden = !show;
    if (!show) return;
    const size = `${view.cell}px`;
    for (const s of view.rows.order) {
      rowLabels.append(h("div", { style: `height:${size};line-height:${size}`, title: serviceLabel(s) }, serviceLabel(s)));
    }
    for (const s of view.cols.order) {
      colLabels.append(h("div", { style: `width:${size}`, title: serviceLabel(s) }, serviceLabel(s)));
    }
  }

  /** Pixels per cell: the zoom the user chose, else the largest that fits the width (at least 1). */
  function cellSize(cols, rows, wrap) {
    const largest = Math.max(1, Math.floor(8192 / Math.max(cols, rows, 1)));
    if (state.matrixZoom) return Math.min(state.matrixZoom, largest);
    const width = Math.max(300, (wrap.parentElement ? wrap.parentElement.clientWidth : 1000) - 4);
    return Math.max(1, Math.min(16, largest, Math.floor(width / Math.max(cols, 1))));
  }

  /** Paints every cell at one pixel into an ImageData, scales it up, then draws separators and the cursor. */
  function paintMatrix(canvas, view) {
    const rows = view.rows.order;
    const cols = view.cols.order;
    const cell = view.cell;
    canvas.width = Math.max(1, cols.length * cell);
    canvas.height = Math.max(1, rows.length * cell);
    const ctx = canvas.getContext("2d");
    if (!rows.length || !cols.length) return;
    const colors = verdictColors();
    const pixels = new ImageData(cols.length, rows.length);
    const clientPos = accessPositions().client;
    const destPos = accessPositions().destination;
    const rowIdx = rows.map((s) => clientPos.get(s));
    cols.forEach((d, c) => {
      const line = DATA.access.rows[DATA.access.row_of[destPos.get(d)]] || "";
      for (let r = 0; r < rowIdx.length; r++) {
        const rgb = colors[line[rowIdx[r]]] || colors["-"];
        const at = (r * cols.length + c) * 4;
        pixels.data[at] = rgb[0];
        pixels.data[at + 1] = rgb[1];
        pixels.data[at + 2] = rgb[2];
        pixels.data[at + 3] = 255;
      }
    });
    const small = document.createElement("canvas");
    small.width = cols.length;
    small.height = rows.length;
    small.getContext("2d").putImageData(pixels, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(small, 0, 0, canvas.width, canvas.height);
    ctx.fillStyle = cssVar("--fg");
    view.rows.breaks.forEach((r) => ctx.fillRect(0, r * cell - 1, canvas.width, 1));
    view.cols.breaks.forEach((c) => ctx.fillRect(c * cell - 1, 0, 1, canvas.height));
    if (document.activeElement === canvas) {
      ctx.strokeStyle = cssVar("--focus");
      ctx.lineWidth = 2;
      ctx.strokeRect(view.cursor[1] * cell - 1, view.cursor[0] * cell - 1, cell + 2, cell + 2);
    }
  }

  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  /** verdict character -> [r, g, b], read from the CSS variables (so dark mode applies). */
  function verdictColors() {
    const probe = document.createElement("canvas").getContext("2d", { willReadFrequently: true });
    const out = {};
    for (const [ch, cls] of Object.entries(VERDICT_CLASS)) {
      probe.fillStyle = "#000";
      probe.fillStyle = cssVar("--" + (cls === "v-none" ? "v-none" : cls));
      probe.fillRect(0, 0, 1, 1);
      const d = probe.getImageData(0, 0, 1, 1).data;
      out[ch] = [d[0], d[1], d[2]];
    }
    return out;
  }

  function matrixLegend() {
    const legend = DATA.access.legend || {};
    return h(
      "ul",
      { class: "legend", "aria-label": "Verdicts" },
      Object.keys(legend).map((ch) => h("li", null, verdictBadge(ch), legend[ch]))
    );
  }

  // ---------------------------------------------------------------- proxies list (virtualized)

  function renderProxies() {
    MAIN.append(h("h1", null, "Proxies"));
    const count = h("span", { class: "muted", role: "status" });
    const zones = [...DATA.zones, "no zone"];
    const holder = h("div");
    MAIN.append(
      h("div", { class: "toolbar" }, filterSelect("Mesh", "mesh", meshNames(), () => draw()), filterSelect("Zone", "zone", zones, () => draw()), count),
      holder
    );
    function draw() {
      const f = state.filters;
      const items = [];
      DATA.proxies.forEach((p, i) => {
        if (f.mesh && p.mesh !== f.mesh) return;
        if (f.zone && (p.zone || "no zone") !== f.zone) return;
        if (matchesQuery(`${p.name} ${p.dir} ${p.kind} ${p.mesh} ${p.zone || "no zone"} ${p.address || ""}`.toLowerCase())) items.push(i);
      });
      count.textContent = `${items.length} of ${DATA.proxies.length} proxies`;
      holder.replaceChildren(
        virtualTable({
          label: "Proxies",
          columns: [["Name", "40%"], ["Kind", "10%"], ["Mesh", "12%"], ["Zone", "12%"], ["Address", "12%"], ["In / out", "14%"]],
          items,
          cells: (i) => {
            const p = DATA.proxies[i];
            return [proxyLink(i), p.kind, p.mesh || "(all meshes)", zoneName(p.zone), p.address || "", `${p.inbounds.length} / ${p.outbounds.length}`];
          },
        })
      );
    }
    refreshList = draw;
    draw();
  }

  /**
   * A table that renders only the rows in view (fixed 32px rows, a sticky header and spacer
   * rows above and below). Up/Down/Home/End/PageUp/PageDown move between the rows' links.
   */
  function virtualTable({ label, columns, items, cells }) {
    const ROW = 32;
    const OVERSCAN = 10;
    const head = h("thead", null, h("tr", null, columns.map(([title, width]) => h("th", { scope: "col", style: `width:${width}` }, title))));
    const body = h("tbody");
    const tableEl = h("table", { "aria-label": label, "aria-rowcount": String(items.length + 1) }, head, body);
    const scroller = h("div", { class: "vscroll" }, tableEl);
    let drawn = [-1, -1];

    function spacer(height) {
      return h("tr", { class: "spacer", "aria-hidden": "true", style: `height:${height}px` }, h("td", { colspan: String(columns.length) }));
    }
    function update(force) {
      const headerHeight = head.offsetHeight || ROW;
      const viewport = scroller.clientHeight || 600;
      const first = Math.max(0, Math.floor((scroller.scrollTop - headerHeight) / ROW) - OVERSCAN);
      const last = Math.min(items.length, first + Math.ceil(viewport / ROW) + 2 * OVERSCAN);
      if (!force && first === drawn[0] && last === drawn[1]) return;
      drawn = [first, last];
      const rows = [];
      for (let n = first; n < last; n++) {
        rows.push(
          h("tr", { class: "row", "aria-rowindex": String(n + 2), dataset: { row: String(n) } }, cells(items[n]).map((c) => h("td", null, c)))
        );
      }
      body.replaceChildren(spacer(first * ROW), ...rows, spacer((items.length - last) * ROW));
    }
    function focusRow(n) {
      n = Math.max(0, Math.min(items.length - 1, n));
      const headerHeight = head.offsetHeight || ROW;
      const top = headerHeight + n * ROW;
      if (top < scroller.scrollTop + headerHeight) scroller.scrollTop = top - headerHeight;
      else if (top + ROW > scroller.scrollTop + scroller.clientHeight) scroller.scrollTop = top + ROW - scroller.clientHeight;
      update(false);
      const a = body.querySelector(`tr[data-row="${n}"] a`);
      if (a) a.focus({ preventScroll: true });
    }
    scroller.addEventListener("scroll", () => requestAnimationFrame(() => update(false)));
    scroller.addEventListener("keydown", (e) => {
      const row = e.target.closest("tr[data-row]");
      if (!row) return;
      const n = Number(row.dataset.row);
      const page = Math.max(1, Math.floor(scroller.clientHeight / ROW) - 1);
      const to = { ArrowDown: n + 1, ArrowUp: n - 1, PageDown: n + page, PageUp: n - page, Home: 0, End: items.length - 1 }[e.key];
      if (to === undefined) return;
      e.preventDefault();
      focusRow(to);
    });
    if (!items.length) return h("p", { class: "muted" }, "Nothing matches.");
    // Rows are drawn once the scroller is in the document (its height is known then).
    update(true);
    requestAnimationFrame(() => update(true));
    return scroller;
  }

  // ---------------------------------------------------------------- proxy page

  function renderProxy(route) {
    const i = proxyByDir().get(route.arg);
    if (i === undefined) return renderNotFound(route);
    const p = DATA.proxies[i];
    MAIN.append(
      h("h1", null, `${p.kind} ${p.name}`),
      h("p", { class: "sub" }, p.mesh ? `mesh ${p.mesh} · ${zoneName(p.zone)}` : `zone proxy · ${zoneName(p.zone)} · serves every mesh`),
      proxyFacts(p)
    );
    MAIN.append(h("h2", null, `Inbounds (${p.inbounds.length})`));
    MAIN.append(placesList(p.inbounds, (place) => place.describe || place.listener, p.inbounds.length <= 3));
    MAIN.append(h("h2", null, `Outbounds (${p.outbounds.length})`));
    MAIN.append(placesList(p.outbounds, outboundTitle, p.outbounds.length <= 3, outboundFacts));
    MAIN.append(h("h2", null, "Proxy-wide policies"));
    if (p.proxy_wide === undefined) MAIN.append(h("p", { class: "muted" }, "None (zone proxies take no proxy-wide policy)."));
    else MAIN.append(confList(DATA.lists[p.proxy_wide] || []));
    MAIN.append(matchedSection(p));
  }

  function proxyFacts(p) {
    const services = p.services.length ? p.services.map((s, n) => [n ? ", " : "", serviceLink(s)]) : null;
    const identity = p.identity.length ? h("ul", { class: "plain" }, p.identity.map((san) => h("li", null, h("code", null, san)))) : null;
    return facts([
      ["Name", p.name],
      ["Kind", p.kind],
      ["Mesh", p.mesh || "(every mesh)"],
      ["Zone", zoneName(p.zone)],
      ["Address", p.address || null],
      ["Services", services ? h("span", null, services) : null],
      ["Identity (SANs)", identity],
      ["Transparent proxy", p.transparent ? "yes" : "no"],
      ["Passthrough", p.passthrough ? passthroughText(p.passthrough) : null],
      ["Envoy config", configLink(p)],
      ["Directory", h("code", null, p.dir)],
      ["Source", sourceText(p)],
    ]);
  }

  function passthroughText(pt) {
    const parts = [`mesh passthrough ${pt.mesh ? "on" : "off"}`];
    if (pt.mode) parts.push(`MeshPassthrough mode ${pt.mode}`);
    const list = pt.destinations.length ? h("ul", { class: "plain" }, pt.destinations.map((d) => h("li", null, h("code", null, d)))) : null;
    return h("span", null, parts.join(", "), list);
  }

  function configLink(p) {
    if (p.config) return link(p.config, p.config);
    return h("span", { class: "hint" }, "Not linked: run ", h("code", null, "meshc compile --out DIR"), " then pass ", h("code", null, "--configs DIR"), " to ", h("code", null, "meshc report"), ".");
  }

  /** An outbound to a known service reads `<service kind> <service name> port <port>`. */
  function outboundTitle(place) {
    if (place.service !== undefined && DATA.services[place.service]) {
      const svc = DATA.services[place.service];
      const zone = svc.zone ? ` (zone ${svc.zone})` : "";
      return h("span", null, `${svc.kind} `, serviceLink(place.service), `${zone} port ${place.port}`);
    }
    return place.describe || place.listener;
  }

  /** How the application reaches an outbound's service: the listener's address, the service's names. */
  function outboundFacts(place) {
    const svc = DATA.services[place.service];
    if (!svc) return null;
    return facts([
      ["Listener", h("code", null, place.listener)],
      ["Hostnames", svc.hostnames.length ? svc.hostnames.join(", ") : null],
      ["VIPs", svc.vips.length ? svc.vips.join(", ") : null],
    ]);
  }

  /** One collapsible box per place; its facts (if any) and confs are rendered when it opens. */
  function placesList(places, title, open, placeFacts) {
    if (!places.length) return h("p", { class: "muted" }, "none");
    const holder = h("div");
    const more = paged(holder, places, (place) => {
      const list = DATA.lists[place.policies] || [];
      const summary = h("span", null, title(place), " ", h("code", { class: "muted" }, place.listener), tag(plural(list.length, "policy", "policies")));
      const fill = () => h("div", null, placeFacts ? placeFacts(place) : null, confList(list));
      return lazyDetails("place", summary, fill, open);
    });
    return h("div", null, holder, more);
  }

  /** The effective confs of one place: per conf, its kind, traffic, fields and their policies. */
  function confList(list) {
    if (!list.length) return h("p", { class: "muted" }, "No policy applies: Kuma's built-in behaviour.");
    return h("div", null, list.map((c) => confView(DATA.confs[c])));
  }

  function confView(conf) {
    if (!conf) return null;
    const used = new Set(Object.values(conf.fields));
    const rows = Object.entries(conf.fields).map(([pointer, o]) => {
      const origin = conf.origins[o];
      return [
        h("code", null, dotted(pointer)),
        h("code", null, compactJson(jsonPointer(conf.conf, pointer))),
        origin ? h("span", null, policyLink(origin.policy), " ", h("span", { class: "muted" }, origin.at)) : "",
      ];
    });
    const overridden = conf.origins.map((o, n) => [o, n]).filter(([, n]) => !used.has(n));
    return h(
      "div",
      { class: "conf" },
      h("h4", null, conf.kind, conf.when ? h("span", { class: "muted" }, ` · ${conf.when}`) : null),
      rows.length ? table(["Field", "Value", "Set by"], rows) : h("p", { class: "muted" }, "No field."),
      overridden.length
        ? h("p", null, "Overridden: ", overridden.map(([o], n) => [n ? ", " : "", h("span", { class: "overridden" }, policyLink(o.policy)), ` (${o.at})`]))
        : null,
      h("details", null, h("summary", null, "JSON"), h("pre", null, JSON.stringify(conf.conf, null, 2)))
    );
  }

  /** `/http/requestTimeout` -> `http.requestTimeout`. */
  function dotted(pointer) {
    return pointer
      .split("/")
      .slice(1)
      .map((part) => part.replace(/~1/g, "/").replace(/~0/g, "~"))
      .join(".");
  }

  /** The value at a JSON pointer (RFC 6901) in `value`, or undefined. */
  function jsonPointer(value, pointer) {
    let at = value;
    for (const raw of pointer.split("/").slice(1)) {
      const part = raw.replace(/~1/g, "/").replace(/~0/g, "~");
      if (at === null || typeof at !== "object" || !(part in at)) return undefined;
      at = at[part];
    }
    return at;
  }

  function compactJson(value) {
    if (value === undefined) return "";
    const text = JSON.stringify(value);
    return text.length > 200 ? text.slice(0, 197) + "…" : text;
  }

  /** Matched policies per kind in merge order, and (on demand) the mesh's policies that do not match. */
  function matchedSection(p) {
    const section = h("section", { "aria-label": "Matched policies" }, h("h2", null, "Policies that select it"));
    if (p.matched === undefined) {
      section.append(h("p", { class: "muted" }, "None: zone proxies are not selected by policies."));
      return section;
    }
    const kinds = DATA.matched[p.matched] || [];
    section.append(h("p", { class: "hint" }, "Per kind in Kuma's merge order: the last one wins a field."));
    const rows = kinds.map((k) => [k.kind, h("ol", { class: "merge" }, k.policies.map((i) => h("li", null, policyLink(i))))]);
    section.append(table(["Kind", "Policies (merge order)"], rows));
    section.append(
      lazyDetails("place", "Policies of the mesh that do not select it", () => unmatchedList(p, kinds), false)
    );
    return section;
  }

  function unmatchedList(p, kinds) {
    const matched = new Set(kinds.flatMap((k) => k.policies));
    const rows = [];
    for (const [key, policies] of policiesByMeshKind()) {
      const [mesh, kind] = key.split("\u0000");
      if (mesh !== p.mesh) continue;
      const others = policies.filter((i) => !matched.has(i));
      if (others.length) rows.push([kind, others]);
    }
    if (!rows.length) return h("p", { class: "muted" }, "Every policy of the mesh selects it.");
    return h(
      "div",
      null,
      rows.map(([kind, others]) => {
        const ul = h("ul", { class: "plain" });
        return h("div", null, h("h3", null, `${kind} (${others.length})`), ul, paged(ul, others, (i) => h("li", null, policyLink(i)), 20));
      })
    );
  }

  // ---------------------------------------------------------------- policies list

  function renderPolicies() {
    MAIN.append(h("h1", null, "Policies"));
    const count = h("span", { class: "muted", role: "status" });
    const holder = h("div");
    MAIN.append(h("div", { class: "toolbar" }, filterSelect("Mesh", "mesh", meshNames(), () => draw()), count), holder);
    function draw() {
      const byKind = new Map();
      let total = 0;
      DATA.policies.forEach((p, i) => {
        if (state.filters.mesh && p.mesh !== state.filters.mesh) return;
        if (!matchesQuery(`${p.label} ${p.mesh} ${p.kind} ${p.role} ${p.target}`.toLowerCase())) return;
        if (!byKind.has(p.kind)) byKind.set(p.kind, []);
        byKind.get(p.kind).push(i);
        total++;
      });
      count.textContent = `${total} of ${DATA.policies.length} policies in ${plural(byKind.size, "kind")}`;
      if (!byKind.size) {
        holder.replaceChildren(h("p", { class: "muted" }, "Nothing matches."));
        return;
      }
      holder.replaceChildren(...[...byKind].map(([kind, list]) => policyKindSection(kind, list)));
    }
    refreshList = draw;
    draw();
  }

  function policyKindSection(kind, list) {
    const body = h("tbody");
    const more = paged(body, list, policyRow, 20);
    return h(
      "section",
      { "aria-label": kind },
      h("h2", null, `${kind} (${list.length})`),
      h("table", null, h("thead", null, h("tr", null, ["Policy", "Mesh", "Role", "Target", "Selects", "Loses"].map((c) => h("th", { scope: "col" }, c)))), body),
      more
    );
  }

  function policyRow(i) {
    const p = DATA.policies[i];
    return h(
      "tr",
      null,
      h("td", null, policyLink(i), p.implicit ? tag("mesh default") : null, p.shadow ? tag("shadow", "warning") : null),
      h("td", null, p.mesh),
      h("td", null, p.role),
      h("td", null, p.target),
      h("td", { class: "num" }, String(p.selects)),
      h("td", { class: "num" }, p.losses.length ? String(p.losses.length) : "")
    );
  }

  // ---------------------------------------------------------------- policy page

  function renderPolicy(route) {
    const i = Number(route.arg);
    const p = Number.isInteger(i) ? DATA.policies[i] : undefined;
    if (!p) return renderNotFound(route);
    MAIN.append(
      h("h1", null, p.label, p.implicit ? tag("mesh default") : null, p.shadow ? tag("shadow", "warning") : null),
      facts([
        ["Kind", p.kind],
        ["Mesh", p.mesh],
        ["Role", p.role],
        ["Implicit", p.implicit ? "yes: a default policy Kuma creates with the mesh" : "no"],
        ["Shadow", p.shadow ? "yes (kuma.io/effect: shadow): computed, not applied" : "no"],
        ["Top-level target", p.target],
        ["Source", sourceText(p)],
        ["Takes fields at", `${plural(p.inbounds, "inbound")}, ${plural(p.outbounds, "outbound")}, ${plural(p.proxy_wide, "proxy-wide conf", "proxy-wide confs")}`],
      ])
    );
    MAIN.append(h("h2", null, `Selects ${plural(p.selects, "proxy", "proxies")}`));
    const selected = proxiesSelectedBy(i);
    if (selected.length) {
      const ul = h("ul", { class: "plain" });
      MAIN.append(ul, paged(ul, selected, (x) => h("li", null, proxyLink(x), DATA.proxies[x].zone ? tag(DATA.proxies[x].zone) : null)));
    } else {
      MAIN.append(h("p", { class: "muted" }, "It selects no proxy of the input."));
    }
    MAIN.append(h("h2", null, `Loses to (${p.losses.length})`));
    if (!p.losses.length) {
      MAIN.append(h("p", { class: "muted" }, "No other policy overrides a field it sets."));
      return;
    }
    MAIN.append(
      table(
        ["Field", "Winner", "Why", "Places", "Example proxy"],
        p.losses.map((l) => [h("code", null, l.field), policyLink(l.winner), l.why, String(l.places), DATA.proxies[l.example] ? proxyLink(l.example) : ""])
      )
    );
  }

  // ---------------------------------------------------------------- diff view

  function renderDiff() {
    const diff = DATA.diff;
    MAIN.append(h("h1", null, "Diff"));
    if (!diff) {
      MAIN.append(h("p", { class: "muted" }, "This report has no diff: pass --against DIR or --against-git REF to meshc report."));
      return;
    }
    MAIN.append(diffSummary(diff));
    if (diff.base_has_errors) {
      MAIN.append(h("p", { class: "banner error" }, `The base (${diff.against}) has errors, so meshc could not compile it: only findings, services and policies are compared.`));
    }
    MAIN.append(h("h2", null, `Proxies (${diff.proxies.length})`));
    if (diff.proxies.length) {
      const holder = h("div");
      MAIN.append(holder, paged(holder, diff.proxies, proxyChange, 20));
    } else MAIN.append(h("p", { class: "muted" }, "No proxy changes."));
    MAIN.append(accessChanges(diff));
    if (diff.findings_added.length) MAIN.append(findingsSection(diff.findings_added, "Findings added"));
    if (diff.findings_removed.length) MAIN.append(findingsSection(diff.findings_removed, "Findings removed"));
    MAIN.append(
      namesSection("Services added", diff.services_added, "added"),
      namesSection("Services removed", diff.services_removed, "removed"),
      namesSection("Policies added", diff.policies_added, "added"),
      namesSection("Policies removed", diff.policies_removed, "removed")
    );
  }

  function proxyChange(change) {
    const title = change.proxy !== undefined && DATA.proxies[change.proxy] ? link(proxyHref(change.proxy), change.dir) : h("span", null, change.dir);
    const section = h("section", { "aria-label": change.dir }, h("h3", null, title, tag(change.status, change.status)));
    if (change.changes.length) {
      section.append(
        table(
          ["Place", "Kind", "Field", "Before", "After", "Set by"],
          change.changes.map((c) => [
            c.place || "outbound",
            c.kind,
            c.field ? h("code", null, c.field) : "",
            h("code", { class: "diff-before" }, compactJson(c.before)),
            h("code", { class: "diff-after" }, compactJson(c.after)),
            c.by !== undefined ? policyLink(c.by) : "",
          ])
        )
      );
    }
    return section;
  }

  function accessChanges(diff) {
    const section = h("section", { "aria-label": "Access changes" }, h("h2", null, `Access changes (${diff.access_total})`));
    if (!diff.access.length) {
      section.append(h("p", { class: "muted" }, "No client → destination pair changes verdict."));
      return section;
    }
    if (diff.access_total > diff.access.length) section.append(h("p", { class: "hint" }, `Showing the first ${diff.access.length} of ${diff.access_total}.`));
    const body = h("tbody");
    const more = paged(body, diff.access, (a) =>
      h(
        "tr",
        null,
        h("td", null, serviceLink(a.client, true)),
        h("td", null, serviceLink(a.destination, true)),
        h("td", null, verdictBadge(a.before), " → ", verdictBadge(a.after)),
        h("td", null, `${verdictMeaning(a.before)} → ${verdictMeaning(a.after)}`)
      )
    );
    section.append(h("table", null, h("thead", null, h("tr", null, ["Client", "Destination", "Verdict", "Meaning"].map((c) => h("th", { scope: "col" }, c)))), body), more);
    return section;
  }

  function namesSection(title, names, cls) {
    if (!names.length) return "";
    return h("section", { "aria-label": title }, h("h2", null, `${title} (${names.length})`), h("ul", { class: "plain" }, names.map((n) => h("li", null, tag(cls, cls), " ", n))));
  }

  function renderNotFound(route) {
    MAIN.append(h("h1", null, "Not found"), h("p", null, `Nothing in this report at “${location.hash}”. `, link("#/", "Back to the overview")));
    return route;
  }

  // ---------------------------------------------------------------- search

  /** Typing filters the list views; elsewhere it lists matching services, proxies and policies. */
  let searchTimer = 0;
  function onSearchInput() {
    state.query = SEARCH.value;
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      const view = MAIN.dataset.view;
      if (FILTERING_VIEWS.has(view) && refreshList) refreshList();
      else showSearchResults();
    }, 80);
  }

  function showSearchResults() {
    if (!state.query.trim()) return closeSearchResults();
    const results = [];
    const add = (href, text, what) => results.push(h("li", null, h("a", { href }, text, h("span", { class: "what" }, what))));
    let n = 0;
    for (let s = 0; s < DATA.services.length && n < 10; s++) {
      if (serviceTextMatches(s)) (n++, add("#/service/" + s, serviceLabel(s), `${DATA.services[s].kind} · ${DATA.services[s].mesh} · ${zoneName(DATA.services[s].zone)}`));
    }
    n = 0;
    for (let i = 0; i < DATA.proxies.length && n < 10; i++) {
      const p = DATA.proxies[i];
      if (matchesQuery(`${p.name} ${p.dir} ${p.address || ""}`.toLowerCase())) (n++, add(proxyHref(i), p.name, `${p.kind} · ${p.mesh || "zone proxy"}`));
    }
    n = 0;
    for (let i = 0; i < DATA.policies.length && n < 10; i++) {
      const p = DATA.policies[i];
      if (matchesQuery(`${p.label} ${p.mesh}`.toLowerCase())) (n++, add("#/policy/" + i, p.label, `policy · ${p.mesh}`));
    }
    RESULTS.replaceChildren(...(results.length ? results : [h("li", { class: "empty" }, "No match.")]));
    RESULTS.hidden = false;
  }

  function serviceTextMatches(s) {
    const svc = DATA.services[s];
    return matchesQuery(`${svc.name} ${svc.namespace || ""} ${svc.mesh} ${svc.kind}`.toLowerCase());
  }

  function closeSearchResults() {
    RESULTS.hidden = true;
    RESULTS.replaceChildren();
  }

  /** Down from the box enters the results; Up/Down move in them; Enter opens the first result. */
  function onSearchKeys(e) {
    const links = [...RESULTS.querySelectorAll("a")];
    if (e.target === SEARCH && e.key === "Enter" && !RESULTS.hidden && links[0]) {
      e.preventDefault();
      links[0].click();
      return;
    }
    if (e.key !== "ArrowDown" && e.key !== "ArrowUp") return;
    if (RESULTS.hidden || !links.length) return;
    const at = links.indexOf(document.activeElement);
    const next = e.key === "ArrowDown" ? at + 1 : at - 1;
    e.preventDefault();
    if (next < 0) SEARCH.focus();
    else links[Math.min(next, links.length - 1)].focus();
  }

  // ---------------------------------------------------------------- keyboard shortcuts

  const GO_KEYS = { o: "#/", s: "#/services", m: "#/matrix", p: "#/proxies", l: "#/policies", d: "#/diff" };

  function isTyping(target) {
    return target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
  }

  /** `/` search, `g` + letter views, `?` help, Escape closes what is open. */
  function onGlobalKeys(e) {
    if (e.key === "Escape") return onEscape();
    if (e.ctrlKey || e.metaKey || e.altKey || isTyping(e.target)) return;
    if (state.pendingG && Date.now() - state.pendingG < 1500 && GO_KEYS[e.key]) {
      state.pendingG = 0;
      e.preventDefault();
      if (e.key !== "d" || DATA.diff) go(GO_KEYS[e.key]);
      return;
    }
    state.pendingG = 0;
    if (e.key === "g") state.pendingG = Date.now();
    else if (e.key === "/") {
      e.preventDefault();
      SEARCH.focus();
      SEARCH.select();
    } else if (e.key === "?") {
      e.preventDefault();
      openHelp();
    }
  }

  function onEscape() {
    const help = document.getElementById("keys");
    if (help.open) return; // the dialog closes itself
    if (!RESULTS.hidden) {
      closeSearchResults();
      SEARCH.focus();
      return;
    }
    const close = MAIN.querySelector("aside.panel:not([hidden]) .close");
    if (close) return close.click();
    if (document.activeElement === SEARCH) SEARCH.blur();
  }

  function openHelp() {
    const help = document.getElementById("keys");
    if (!help.open) help.showModal();
  }

  // ---------------------------------------------------------------- printing

  /** Before printing, open every collapsed box (and build the lazy ones) so the print shows them. */
  function beforePrint() {
    MAIN.querySelectorAll("details").forEach((d) => {
      const fill = lazyFills.get(d);
      if (fill) fill();
      if (!d.open) {
        d.dataset.printOpened = "1";
        d.open = true;
      }
    });
  }

  function afterPrint() {
    MAIN.querySelectorAll("details[data-print-opened]").forEach((d) => {
      delete d.dataset.printOpened;
      d.open = false;
    });
  }

  // ---------------------------------------------------------------- start

  function start() {
    if (DATA.diff) document.getElementById("nav-diff").hidden = false;
    window.addEventListener("hashchange", onHashChange);
    window.addEventListener("keydown", onGlobalKeys);
    window.addEventListener("beforeprint", beforePrint);
    window.addEventListener("afterprint", afterPrint);
    window.addEventListener("resize", () => {
      const graph = document.getElementById("graph");
      if (graph) drawEdges(graph);
    });
    SEARCH.addEventListener("input", onSearchInput);
    SEARCH.addEventListener("keydown", onSearchKeys);
    RESULTS.addEventListener("keydown", onSearchKeys);
    RESULTS.addEventListener("click", () => closeSearchResults());
    document.getElementById("keys-button").addEventListener("click", openHelp);
    document.addEventListener("click", (e) => {
      if (!e.target.closest(".search")) closeSearchResults();
    });
    render();
    window.meshcRenderMs = performance.now() - START;
    document.body.dataset.ready = "1";
  }

  start();
})();
