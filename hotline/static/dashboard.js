// The supervisor dashboard: live over /ws/dashboard, drawn with plain DOM and inline SVG.
import { $, api, apiFile, branchName, dateTime, duration, el, number, onLanguageChange, openPage, percent, rulesLabel,
  seconds, signedIn, socketUrl, svg, t, word } from "./toolkit.js";

let data = null;
let selectedWard = null;

async function start() {
  data = await api("GET", "/api/v1/dashboard");
  render();
  connect();
}

// The websocket pushes a fresh dashboard every few seconds; if it drops, a banner says so and
// the page retries with a pause. The banner goes once fresh figures arrive again, not merely
// when a socket opens.
async function connect() {
  let socket;
  try {
    socket = new WebSocket(await socketUrl("/ws/dashboard"));
  } catch (_) {
    setLive(false);
    if (signedIn()) setTimeout(connect, 3000);
    return;
  }
  socket.onmessage = (ev) => {
    const msg = JSON.parse(ev.data);
    if (msg.type === "dashboard") {
      data = msg;
      setLive(true);
      render();
    }
  };
  socket.onclose = () => {
    setLive(false);
    if (signedIn()) setTimeout(connect, 3000);
  };
}

function setLive(ok) {
  $("reconnect-banner").classList.toggle("hidden", ok);
  const pill = $("live-state");
  pill.dataset.live = ok ? "yes" : "no";
  pill.textContent = ok ? `● ${t("dash_live")}` : t("dash_reconnecting");
  pill.classList.toggle("down", !ok);
}

function render() {
  if (!data) return;
  $("updated").textContent = dateTime(data.at);
  renderBranches();
  renderBeds();
  renderTransfers();
  renderWards();
}

function sparkline(values) {
  const w = 240;
  const h = 44;
  const max = Math.max(1, ...values);
  const step = values.length > 1 ? w / (values.length - 1) : w;
  const pts = values.map((v, i) => `${(i * step).toFixed(1)},${(h - 2 - (v / max) * (h - 6)).toFixed(1)}`);
  return svg(
    "svg",
    {
      viewBox: `0 0 ${w} ${h}`,
      preserveAspectRatio: "none",
      class: "spark",
      role: "img",
      "aria-label": `${t("waiting_60m")}: ${values.map((v) => number(v)).join(", ")}`,
    },
    svg("polygon", { class: "area", points: `0,${h} ${pts.join(" ")} ${w},${h}` }),
    svg("polyline", { points: pts.join(" ") }),
  );
}

function renderBranches() {
  $("branches").replaceChildren(
    ...data.branches.map((b) => {
      const slBad = b.service_level !== null && b.service_level < b.sl_target;
      return el(
        "article",
        { class: `figure${b.waiting > 0 ? " hot" : ""}`, "data-branch": b.digit },
        el("div", { class: "row" }, el("strong", {}, `${t("branch")} ${b.digit} · ${branchName(b)}`)),
        el(
          "div",
          { class: "row" },
          el("span", { class: "big", "data-field": "waiting" }, number(b.waiting)),
          el("span", { class: "muted" }, `${t("longest_wait")} ${duration(b.longest_wait_s)}`),
        ),
        sparkline(b.waiting_series),
        el("div", { class: "muted small" }, t("waiting_60m")),
        el(
          "div",
          { class: "kv" },
          el("span", {}, t("asa")),
          el("span", {}, seconds(b.asa_s)),
          el("span", {}, t("dash_abandonment")),
          el("span", {}, percent(b.abandonment_rate)),
          el("span", {}, t("service_level")),
          el("span", { class: slBad ? "bad" : "" }, `${percent(b.service_level)} / ${percent(b.sl_target)}`),
          el("span", {}, t("doctors_online")),
          el("span", {}, t("dash_doctors_online", { online: number(b.doctors_online), available: number(b.doctors_available) })),
        ),
      );
    }),
  );
}

function bedCell(r) {
  if (!r) return el("td", { class: "num muted" }, "—");
  return el(
    "td",
    { class: `num${r.stale ? " stale" : ""}`, title: t("dash_total_n", { n: number(r.total) }) },
    el("strong", {}, number(r.available)),
    el("span", { class: "muted" }, ` /${number(r.total)}`),
    r.stale ? el("span", { class: "stale-tag", title: r.oldest_as_of || "" }, `⚠ ${t("dash_stale_n", { n: number(r.stale_pools) })}`) : null,
  );
}

// One row per district, one column per bed type: free beds, with the total and any stale pools.
function renderBeds() {
  const types = [...new Set(data.beds.map((r) => r.bed_type))];
  const districts = [...new Set(data.beds.map((r) => r.district))].sort();
  const cell = new Map(data.beds.map((r) => [`${r.district}|${r.bed_type}`, r]));
  const head = el("tr", {}, el("th", {}, t("district")), types.map((bt) => el("th", { class: "num" }, word("bed", bt))));
  const body = districts.map((d) =>
    el("tr", { "data-district": d }, el("td", {}, d), types.map((bt) => bedCell(cell.get(`${d}|${bt}`)))),
  );
  $("beds").replaceChildren(
    el("p", { class: "muted small" }, t("dash_free_of_total")),
    el("table", { class: "compact" }, el("thead", {}, head), el("tbody", {}, body)),
  );
}

function renderTransfers() {
  const tr = data.transfers;
  const kv = el(
    "div",
    { class: "kv" },
    el("span", {}, t("waiting_transfers")),
    el("span", { "data-field": "transfers-waiting" }, number(tr.waiting)),
    el("span", {}, t("oldest_wait")),
    el("span", {}, duration(tr.oldest_waiting_s)),
    el("span", {}, t("time_to_hold")),
    el("span", {}, duration(tr.time_to_hold_median_s)),
    el("span", {}, t("time_to_bed")),
    el("span", {}, duration(tr.time_to_bed_median_s)),
  );
  const list = el(
    "table",
    { class: "compact" },
    el(
      "tbody",
      {},
      tr.longest_waiting.map((w) =>
        el(
          "tr",
          {},
          el("td", {}, word("bed", w.bed_type)),
          el("td", {}, word("urgency", w.urgency)),
          el("td", {}, word("transfer", w.status)),
          el("td", { class: "num" }, duration(w.waited_s)),
        ),
      ),
    ),
  );
  $("transfers").replaceChildren(el("div", { class: "figure" }, kv), list);
}

function wardLabel(w) {
  return `${w.ward_name} (${w.district_name})`;
}

function wardTile(w) {
  return el(
    "button",
    {
      type: "button",
      class: `tile lvl-${w.level}${w.ward_code === selectedWard ? " selected" : ""}`,
      "data-ward": w.ward_code,
      title: `${wardLabel(w)}: ${t("level_n", { n: w.level })}`,
      onclick: () => select(w.ward_code),
    },
    el("b", {}, w.level),
    w.ward_name,
  );
}

// The decision's indicators, in its own numbering: [column, input, decimals].
const INDICATORS = [
  // Rates per 100,000 (or 10,000) are read as whole numbers; shares as a percent, one decimal.
  ["1a", "new_cases_7d_per_100k", 0],
  ["1b", "oxygen_cases_per_100k", 0],
  ["1c", "deaths_7d_per_100k", 0],
  ["2a", "vaccinated_share", null],
  ["3a", "care_readiness_per_10k", 0],
  ["3b", "district_free_beds_per_100k", 0],
  ["3c", "province_icu_beds_per_100k", 0],
];

function wardRow(w) {
  return el(
    "tr",
    { "data-ward": w.ward_code, onclick: () => select(w.ward_code) },
    el("td", {}, w.district_name),
    el("td", {}, w.ward_name),
    el("td", {}, el("span", { class: `lvl lvl-${w.level}` }, w.level)),
    el("td", {}, w.infection_level),
    el("td", {}, word("capacity", w.capacity)),
    INDICATORS.map(([, input, digits]) =>
      el("td", { class: "num" }, digits === null ? percent(w.inputs[input]) : number(w.inputs[input], digits)),
    ),
  );
}

function renderWards() {
  const wards = data.wards;
  $("ward-summary").replaceChildren(
    ...Object.entries(data.ward_summary).map(([lvl, n]) =>
      el("span", { class: `chip lvl-${lvl}` }, `${t("level_n", { n: lvl })}: ${number(n)}`),
    ),
  );
  if (!wards.length) {
    $("ward-grid").replaceChildren(el("p", { class: "muted" }, t("no_levels")));
    $("ward-table").replaceChildren();
    return;
  }
  const byDistrict = new Map();
  for (const w of wards) {
    if (!byDistrict.has(w.district_name)) byDistrict.set(w.district_name, []);
    byDistrict.get(w.district_name).push(w);
  }
  $("ward-grid").replaceChildren(
    ...[...byDistrict.entries()].map(([district, list]) =>
      el("div", { class: "district-row" }, el("div", { class: "dname" }, district), el("div", { class: "tiles" }, list.map(wardTile))),
    ),
  );
  const head = el(
    "tr",
    {},
    ["district", "ward", "level", "infection", "capacity"].map((key) => el("th", {}, t(key))),
    INDICATORS.map(([column]) => el("th", { class: "num" }, column)),
  );
  $("ward-table").replaceChildren(el("thead", {}, head), el("tbody", {}, wards.map(wardRow)));
  renderExplain();
}

function select(code) {
  selectedWard = code;
  renderWards();
}

// One step of Decision 218 in the page's language, from its inputs and result (never the API's
// English sentence): each input named and rounded for people, then what the step concluded.
function stepValue(name, value) {
  if (value === null || value === undefined) return t("not_reported");
  if (typeof value === "string") return word(name === "combine" ? "combine" : "capacity", value);
  if (name.endsWith("_share")) return percent(value);
  if (name.includes("per_10")) return number(value, 0);
  return number(value);
}

function explainStep(s) {
  const inputs = Object.entries(s.inputs).map(([name, value]) => `${t(`input.${name}`)} ${stepValue(name, value)}`);
  const result = typeof s.result === "string" ? word("capacity", s.result) : number(s.result);
  return `${inputs.join("; ")} → ${t(s.step === "level" ? "explain_level" : "explain_result", { result })}`;
}

// The counts a level came from, each named in words (the API's keys are codes).
function sourceList(sources) {
  const value = (v) => {
    if (v === null || v === undefined) return t("not_reported");
    if (typeof v === "number") return number(v);
    if (Array.isArray(v)) return v.length ? v.map(value).join(", ") : "—";
    if (typeof v === "object") return sourceList(v);
    return String(v);
  };
  return el(
    "ul",
    { class: "small sources" },
    Object.entries(sources).map(([key, v]) => el("li", {}, `${t(`source.${key}`)}: `, value(v))),
  );
}

function renderExplain() {
  const w = data.wards.find((x) => x.ward_code === selectedWard);
  const box = $("ward-explain");
  if (!w) {
    box.replaceChildren(el("p", { class: "muted" }, t("dash_click_ward")));
    return;
  }
  const population = `${t("population")} ${number(w.population)}${w.demo_figures ? ` ${t("dash_demo_mark")}` : ""}`;
  box.replaceChildren(
    el("h3", {}, el("span", { class: `chip lvl lvl-${w.level}` }, ` ${w.level} `), " ", wardLabel(w)),
    el("div", { class: "muted small" }, `${population} · ${t("computed_at")} ${dateTime(w.computed_at)} · `, rulesLabel(w.rules_version)),
    el(
      "ol",
      { id: "explain-steps" },
      w.steps.map((s) => el("li", {}, el("span", { class: "step-name" }, `${t(`explain.${s.step}`)}: `), explainStep(s))),
    ),
    el("details", { id: "ward-sources" }, el("summary", {}, t("sources")), sourceList(w.sources)),
  );
}

async function recompute() {
  try {
    await api("POST", "/api/v1/epidemic/recompute");
    data = await api("GET", "/api/v1/dashboard");
    render();
  } catch (err) {
    $("export-error").textContent = err.message;
  }
}

// Exports go through the API client so the bearer token is sent; the file is handed over as a blob.
async function exportCsv(event) {
  event.preventDefault();
  const kind = event.submitter ? event.submitter.dataset.kind : "kpis";
  const q = new URLSearchParams();
  if ($("exp-from").value) q.set("from", `${$("exp-from").value}T00:00:00+07:00`);
  if ($("exp-to").value) q.set("to", `${$("exp-to").value}T00:00:00+07:00`);
  let file;
  try {
    file = await apiFile(`/api/v1/exports/${kind}.csv?${q}`);
  } catch (err) {
    $("export-error").textContent = err.message;
    return;
  }
  $("export-error").textContent = "";
  const url = URL.createObjectURL(file);
  const a = el("a", { href: url, download: `${kind}.csv` });
  document.body.append(a);
  a.click();
  a.remove();
  URL.revokeObjectURL(url);
}

$("recompute").addEventListener("click", recompute);
$("export-form").addEventListener("submit", exportCsv);
onLanguageChange(() => {
  render();
  const live = $("live-state").dataset.live;
  if (live) setLive(live === "yes");
});
openPage({ app: "board", refusal: "not_a_supervisor", start });
