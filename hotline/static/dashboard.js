// The supervisor dashboard: live over /ws/dashboard, drawn with plain DOM and inline SVG.
"use strict";

Object.assign(I18N.vi, {
  dash_title: "Bảng điều hành 1022",
  dash_beds: "Giường trống theo quận và loại giường",
  dash_transfers: "Chuyển viện đang chờ giường",
  dash_wards: "Cấp độ dịch theo phường (QĐ 218/QĐ-BYT)",
  dash_recompute: "Tính lại",
  dash_demo_note: "Dân số mẫu dùng để minh họa, không phải số liệu chính thức. Bấm vào một phường để xem cách tính.",
  dash_click_ward: "Bấm vào một phường để xem từng bước tính cấp độ.",
  dash_exports: "Xuất CSV",
  dash_export_kpis: "KPI tổng đài",
  dash_export_levels: "Cấp độ phường",
  asa: "Tốc độ trả lời TB",
  abandonment: "Tỷ lệ bỏ máy",
  service_level: "Mức phục vụ",
  waiting_60m: "Đang chờ, 60 phút qua",
  district: "Quận",
  bed_type: "Loại giường",
  free: "Trống",
  total: "Tổng",
  stale: "cũ",
  waiting_transfers: "Yêu cầu chờ giường",
  oldest_wait: "Chờ lâu nhất",
  time_to_hold: "Thời gian đến giữ giường (trung vị)",
  time_to_bed: "Thời gian đến nhập viện (trung vị)",
  ward: "Phường",
  level: "Cấp",
  infection: "Mức lây nhiễm",
  capacity: "Năng lực",
  population: "Dân số",
  computed_at: "Tính lúc",
  live: "trực tiếp",
  reconnecting: "đang kết nối lại",
  no_levels: "Chưa có cấp độ nào: bấm “Tính lại”.",
  sources: "Số liệu gốc",
});
Object.assign(I18N.en, {
  dash_title: "1022 dashboard",
  dash_beds: "Free beds by district and bed type",
  dash_transfers: "Transfers waiting for a bed",
  dash_wards: "Epidemic level per ward (Decision 218/QĐ-BYT)",
  dash_recompute: "Recompute",
  dash_demo_note: "Populations are demo figures, not official statistics. Click a ward to see how its level was reached.",
  dash_click_ward: "Click a ward to see each step of its level.",
  dash_exports: "CSV exports",
  dash_export_kpis: "Call-centre KPIs",
  dash_export_levels: "Ward levels",
  asa: "Avg speed of answer",
  abandonment: "Abandonment",
  service_level: "Service level",
  waiting_60m: "Waiting, last 60 min",
  district: "District",
  bed_type: "Bed type",
  free: "Free",
  total: "Total",
  stale: "stale",
  waiting_transfers: "Requests waiting",
  oldest_wait: "Oldest wait",
  time_to_hold: "Time to bed hold (median)",
  time_to_bed: "Time to admission (median)",
  ward: "Ward",
  level: "Level",
  infection: "Infection",
  capacity: "Capacity",
  population: "Population",
  computed_at: "Computed",
  live: "live",
  reconnecting: "reconnecting",
  no_levels: "No levels yet: press “Recompute”.",
  sources: "Source counts",
});

const TOKEN_KEY = "hotline.supervisor.token";
let token = sessionStorage.getItem(TOKEN_KEY);
let data = null;
let socket = null;
let selectedWard = null;
let retryTimer = null;
const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";

async function signIn(event) {
  const signedIn = await signInFromForm(event, TOKEN_KEY);
  if (signedIn) {
    token = signedIn;
    await start();
  }
}

async function start() {
  try {
    data = await api("GET", "/api/v1/dashboard", undefined, token);
  } catch (err) {
    sessionStorage.removeItem(TOKEN_KEY);
    $("signin-error").textContent = err.status === 403 ? t("not_a_supervisor") : "";
    return;
  }
  $("signin-view").classList.add("hidden");
  $("board").classList.remove("hidden");
  render();
  connect();
}

// The websocket pushes a fresh dashboard every few seconds; if it drops, retry with a pause.
function connect() {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${proto}://${location.host}/ws/dashboard?token=${encodeURIComponent(token)}`);
  socket.onopen = () => setLive(true);
  socket.onmessage = (ev) => {
    const msg = JSON.parse(ev.data);
    if (msg.type === "dashboard") {
      data = msg;
      render();
    }
  };
  socket.onclose = () => {
    setLive(false);
    if (token) retryTimer = setTimeout(connect, 3000);
  };
}

function setLive(ok) {
  const pill = $("live-state");
  pill.textContent = ok ? `● ${t("live")}` : t("reconnecting");
  pill.classList.toggle("down", !ok);
}

function signOut() {
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  clearTimeout(retryTimer);
  if (socket) socket.close();
  location.reload();
}

function render() {
  if (!data) return;
  $("updated").textContent = fmtTime(data.at);
  renderBranches();
  renderBeds();
  renderTransfers();
  renderWards();
}

function fmtSeconds(s) {
  return s === null || s === undefined ? "—" : fmtDuration(s);
}

function sparkline(values) {
  const w = 240;
  const h = 44;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("class", "spark");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `${t("waiting_60m")}: ${values.join(", ")}`);
  const max = Math.max(1, ...values);
  const step = values.length > 1 ? w / (values.length - 1) : w;
  const pts = values.map((v, i) => `${(i * step).toFixed(1)},${(h - 2 - (v / max) * (h - 6)).toFixed(1)}`);
  const area = document.createElementNS(SVG, "polygon");
  area.setAttribute("class", "area");
  area.setAttribute("points", `0,${h} ${pts.join(" ")} ${w},${h}`);
  const line = document.createElementNS(SVG, "polyline");
  line.setAttribute("points", pts.join(" "));
  svg.append(area, line);
  return svg;
}

function renderBranches() {
  const root = $("branches");
  root.replaceChildren(
    ...data.branches.map((b) => {
      const slBad = b.service_level !== null && b.service_level < b.sl_target;
      return el(
        "article",
        { class: `figure${b.waiting > 0 ? " hot" : ""}`, "data-branch": b.digit },
        el("div", { class: "row" },
          el("strong", {}, `${t("branch")} ${b.digit} · ${LANG === "vi" && b.name_vi ? b.name_vi : b.name}`)),
        el("div", { class: "row" },
          el("span", { class: "big", "data-field": "waiting" }, b.waiting),
          el("span", { class: "muted" }, `${t("longest_wait")} ${fmtSeconds(b.longest_wait_s)}`)),
        sparkline(b.waiting_series),
        el("div", { class: "muted small" }, t("waiting_60m")),
        el("div", { class: "kv" },
          el("span", {}, t("asa")), el("span", {}, b.asa_s === null ? "—" : `${b.asa_s.toFixed(1)} s`),
          el("span", {}, t("abandonment")), el("span", {}, pct(b.abandonment_rate)),
          el("span", {}, t("service_level")),
          el("span", { class: slBad ? "bad" : "" }, `${pct(b.service_level)} / ${pct(b.sl_target)}`),
          el("span", {}, t("doctors_online")), el("span", {}, `${b.doctors_online} (${b.doctors_available} ${t("available")})`)),
      );
    }),
  );
}

// One row per district, one column per bed type: free beds, with the total and any stale pools.
function renderBeds() {
  const types = [...new Set(data.beds.map((r) => r.bed_type))];
  const districts = [...new Set(data.beds.map((r) => r.district))].sort();
  const cell = new Map(data.beds.map((r) => [`${r.district}|${r.bed_type}`, r]));
  const head = el("tr", {}, el("th", {}, t("district")), types.map((bt) => el("th", { class: "num" }, bt)));
  const body = districts.map((d) => el("tr", { "data-district": d }, el("td", {}, d), types.map((bt) => {
    const r = cell.get(`${d}|${bt}`);
    if (!r) return el("td", { class: "num muted" }, "—");
    return el("td", { class: `num${r.stale ? " stale" : ""}`, title: `${t("total")} ${r.total}` },
      el("strong", {}, r.available), el("span", { class: "muted" }, ` /${r.total}`),
      r.stale ? el("span", { class: "stale-tag", title: r.oldest_as_of || "" }, `⚠ ${r.stale_pools} ${t("stale")}`) : null);
  })));
  $("beds").replaceChildren(
    el("p", { class: "muted small" }, `${t("free")} / ${t("total")}`),
    el("table", { class: "compact" }, el("thead", {}, head), el("tbody", {}, body)));
}

function renderTransfers() {
  const tr = data.transfers;
  const kv = el("div", { class: "kv" },
    el("span", {}, t("waiting_transfers")), el("span", { "data-field": "transfers-waiting" }, tr.waiting),
    el("span", {}, t("oldest_wait")), el("span", {}, fmtSeconds(tr.oldest_waiting_s)),
    el("span", {}, t("time_to_hold")), el("span", {}, fmtSeconds(tr.time_to_hold_median_s)),
    el("span", {}, t("time_to_bed")), el("span", {}, fmtSeconds(tr.time_to_bed_median_s)));
  const list = el("table", { class: "compact" }, el("tbody", {},
    tr.longest_waiting.map((w) => el("tr", {},
      el("td", {}, w.bed_type), el("td", {}, w.urgency), el("td", {}, w.status),
      el("td", { class: "num" }, fmtSeconds(w.waited_s))))));
  $("transfers").replaceChildren(el("div", { class: "figure" }, kv), list);
}

function wardLabel(w) {
  return `${w.ward_name} (${w.district_name})`;
}

function renderWards() {
  const wards = data.wards;
  $("ward-summary").replaceChildren(
    ...Object.entries(data.ward_summary).map(([lvl, n]) =>
      el("span", { class: `chip lvl-${lvl}` }, `${t("level")} ${lvl}: ${n}`)));
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
      el("div", { class: "district-row" },
        el("div", { class: "dname" }, district),
        el("div", { class: "tiles" },
          list.map((w) => el("button", {
            type: "button",
            class: `tile lvl-${w.level}${w.ward_code === selectedWard ? " selected" : ""}`,
            "data-ward": w.ward_code,
            title: `${wardLabel(w)}: ${t("level")} ${w.level}`,
            onclick: () => select(w.ward_code),
          }, el("b", {}, w.level), w.ward_name))))));
  const head = el("tr", {},
    el("th", {}, t("district")), el("th", {}, t("ward")), el("th", {}, t("level")),
    el("th", {}, t("infection")), el("th", {}, t("capacity")),
    el("th", { class: "num" }, "1a"), el("th", { class: "num" }, "1b"), el("th", { class: "num" }, "1c"),
    el("th", { class: "num" }, "2a"), el("th", { class: "num" }, "3a"), el("th", { class: "num" }, "3b"),
    el("th", { class: "num" }, "3c"));
  const n = (x, d = 1) => (x === null || x === undefined ? "—" : Number(x).toFixed(d));
  $("ward-table").replaceChildren(el("thead", {}, head), el("tbody", {},
    wards.map((w) => el("tr", { "data-ward": w.ward_code, onclick: () => select(w.ward_code) },
      el("td", {}, w.district_name), el("td", {}, w.ward_name),
      el("td", {}, el("span", { class: `lvl lvl-${w.level}` }, w.level)),
      el("td", {}, w.infection_level), el("td", {}, w.capacity),
      el("td", { class: "num" }, n(w.inputs.new_cases_7d_per_100k)),
      el("td", { class: "num" }, n(w.inputs.oxygen_cases_per_100k)),
      el("td", { class: "num" }, n(w.inputs.deaths_7d_per_100k)),
      el("td", { class: "num" }, pct(w.inputs.vaccinated_share)),
      el("td", { class: "num" }, n(w.inputs.care_readiness_per_10k, 0)),
      el("td", { class: "num" }, n(w.inputs.district_free_beds_per_100k)),
      el("td", { class: "num" }, n(w.inputs.province_icu_beds_per_100k))))));
  renderExplain();
}

function select(code) {
  selectedWard = code;
  renderWards();
}

function renderExplain() {
  const w = data.wards.find((x) => x.ward_code === selectedWard);
  const box = $("ward-explain");
  if (!w) {
    box.replaceChildren(el("p", { class: "muted" }, t("dash_click_ward")));
    return;
  }
  box.replaceChildren(
    el("h3", {}, el("span", { class: `chip lvl lvl-${w.level}` }, ` ${w.level} `), " ", wardLabel(w)),
    el("div", { class: "muted small" },
      `${t("population")} ${w.population.toLocaleString()}${w.demo_figures ? " (demo)" : ""} · ` +
      `${t("computed_at")} ${fmtTime(w.computed_at)} · ${w.rules_version}`),
    el("ol", { id: "explain-steps" },
      w.steps.map((s) => el("li", {}, el("span", { class: "step-name" }, `${s.step}: `), s.explanation))),
    el("details", {}, el("summary", {}, t("sources")),
      el("pre", { class: "small" }, JSON.stringify(w.sources, null, 1))));
}

async function recompute() {
  try {
    await api("POST", "/api/v1/epidemic/recompute", undefined, token);
    data = await api("GET", "/api/v1/dashboard", undefined, token);
    render();
  } catch (err) {
    $("export-error").textContent = errorText(err);
  }
}

// Exports go through fetch so the bearer token is sent; the file is handed over as a blob.
async function exportCsv(event) {
  event.preventDefault();
  const kind = event.submitter ? event.submitter.dataset.kind : "kpis";
  const q = new URLSearchParams();
  if ($("exp-from").value) q.set("from", `${$("exp-from").value}T00:00:00+07:00`);
  if ($("exp-to").value) q.set("to", `${$("exp-to").value}T00:00:00+07:00`);
  const res = await fetch(`/api/v1/exports/${kind}.csv?${q}`, { headers: { Authorization: `Bearer ${token}` } });
  if (!res.ok) {
    $("export-error").textContent = errorText({ body: await res.json() });
    return;
  }
  $("export-error").textContent = "";
  const url = URL.createObjectURL(await res.blob());
  const a = el("a", { href: url, download: `${kind}.csv` });
  document.body.append(a);
  a.click();
  a.remove();
  URL.revokeObjectURL(url);
}

document.addEventListener("DOMContentLoaded", () => {
  applyI18n();
  $("signin-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", signOut);
  $("lang-toggle").addEventListener("click", () => toggleLang(render));
  $("recompute").addEventListener("click", recompute);
  $("export-form").addEventListener("submit", exportCsv);
  if (token) start();
});
