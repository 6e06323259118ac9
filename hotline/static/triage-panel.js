// Triage panel of the doctor console: the caller's patients, their timeline and trend,
// the assessment form with live scoring, signing, and what happens next.
// It fills <section id="patient-panel"> for the call the console publishes ("call").
import { $, api, dateTime, dayMonth, el, follow, label, number, onLanguageChange, rulesLabel, rulesText, svg, t, word } from "./toolkit.js";

const API = "/api/v1/triage";
const SYMPTOMS = [
  "shortness_of_breath",
  "persistent_chest_pain",
  "cyanosis",
  "cannot_drink",
  "fever",
  "cough",
  "fatigue",
  "new_acute_illness",
  "worried",
];
// [field, step]; the label is the dictionary's "vital.<field>".
const VITALS = [
  ["respiratory_rate", 1],
  ["spo2", 1],
  ["pulse", 1],
  ["systolic_bp", 1],
  ["diastolic_bp", 1],
  ["temperature_c", 0.1],
];
const CONSCIOUSNESS = ["alert", "confusion", "voice", "pain", "unresponsive"];
const S = { call: null, patients: [], patient: null, last: null, signed: null, timer: null, poll: null };

const panel = () => $("patient-panel");

// A form label whose text the language switch retranslates without touching the field in it.
function field(key, input, attrs = {}) {
  return el("label", attrs, label("span", key), input);
}

// ------------------------------------------------------------------ patients

async function open(call) {
  S.call = call;
  S.patient = null;
  S.last = null;
  S.signed = null;
  clearInterval(S.poll);
  renderAfterCall();
  const root = panel();
  root.classList.add("triage");
  root.replaceChildren(el("p", { class: "muted" }, t("tp_loading_patients")));
  try {
    [S.patients] = await Promise.all([api("GET", `${API}/patients?phone=${encodeURIComponent(call.caller)}`), loadWards()]);
    await nameWards(S.patients.map((p) => p.ward_code));
  } catch (e) {
    root.replaceChildren(el("p", { class: "error" }, e.message));
    return;
  }
  if (S.patients.length === 1) return pick(S.patients[0]);
  renderPatients();
}

function age(p) {
  return p.age_years === null || p.age_years === undefined ? t("tp_age_unknown") : t("tp_age_years", { n: number(p.age_years) });
}

function renderPatients() {
  S.patient = null;
  const list = el(
    "ul",
    { class: "tp-patients" },
    S.patients.map((p) =>
      el(
        "li",
        {},
        el(
          "button",
          { type: "button", class: "tp-pick", "data-patient": p.id, onclick: () => pick(p) },
          [p.full_name, age(p), word("outcome", p.outcome)].filter(Boolean).join(" · "),
        ),
      ),
    ),
  );
  panel().replaceChildren(
    el("h3", {}, t("tp_patients_on", { phone: S.call.caller })),
    S.patients.length ? list : el("p", { class: "muted" }, t("tp_no_patients")),
    newPatientForm(),
  );
}

// The address picker: wards and communes of either scheme (2021 with districts, 2025 without),
// found by the server as the doctor types, with or without diacritics, and chosen from the
// suggestions by name (never a typed code).
const WARDS = { byCode: new Map(), byText: new Map(), timer: null };

const wardText = (w) => `${w.name}, ${w.district_name || w.province_name}`;

function remember(list) {
  for (const w of list) {
    WARDS.byCode.set(w.code, w);
    WARDS.byText.set(wardText(w), w.code);
  }
  return list;
}

async function findWards(q, limit = 8) {
  return remember(await api("GET", `/api/v1/areas/wards?q=${encodeURIComponent(q)}&limit=${limit}`));
}

async function loadWards() {
  try {
    // Enough to name the wards of the 2021 list (they come first) without a search.
    if (!WARDS.byCode.size) remember(await api("GET", "/api/v1/areas/wards?limit=500"));
  } catch {
    // Without the list the picker still searches as the doctor types.
  }
}

// The names of the patients' wards the first list did not bring (a 2025 commune, say), so a
// patient's ward always shows as a name.
async function nameWards(codes) {
  const missing = [...new Set(codes.filter((c) => c && !WARDS.byCode.has(c)))];
  await Promise.all(
    missing.map((c) => api("GET", `/api/v1/areas/wards?code=${encodeURIComponent(c)}`).then(remember, () => null)),
  );
}

function wardLabelOf(code) {
  const w = WARDS.byCode.get(code);
  return w ? wardText(w) : "";
}

// The typed text's ward: the suggestion chosen, else the one suggestion whose label it is (or the
// only one found). undefined when text names no ward, so the form says so instead of dropping it.
async function wardCodeOf(input) {
  const text = input.value.trim();
  if (!text) return null;
  if (input.dataset.code && wardLabelOf(input.dataset.code) === text) return input.dataset.code;
  if (WARDS.byText.has(text)) return WARDS.byText.get(text);
  try {
    const found = await findWards(text.replace(/[,;]/g, " "), 20);
    const exact = found.find((w) => wardText(w) === text);
    if (exact) return exact.code;
    if (found.length === 1) return found[0].code;
  } catch {
    // fall through: not found
  }
  return undefined;
}

function wardPicker(code) {
  const input = el("input", {
    name: "ward",
    id: "tp-ward-input",
    autocomplete: "off",
    role: "combobox",
    "aria-controls": "tp-ward-choices",
    "aria-expanded": "false",
    placeholder: t("tp_ward_hint"),
    "data-i18n-placeholder": "tp_ward_hint",
    value: wardLabelOf(code),
  });
  if (code) input.dataset.code = code;
  const list = el("ul", { id: "tp-ward-choices", class: "tp-ward-choices hidden", role: "listbox" });
  const close = () => {
    list.replaceChildren();
    list.classList.add("hidden");
    input.setAttribute("aria-expanded", "false");
  };
  const choose = (w) => {
    input.value = wardText(w);
    input.dataset.code = w.code;
    close();
  };
  const show = (found) => {
    list.replaceChildren(
      ...(found.length
        ? found.map((w) =>
            el(
              "li",
              { role: "option" },
              el(
                "button",
                { type: "button", class: "tp-ward-choice", "data-code": w.code, onclick: () => choose(w) },
                el("span", { class: "tp-ward-name" }, wardText(w)),
                el("small", { class: "muted" }, word("area_scheme", w.scheme)),
              ),
            ),
          )
        : [el("li", { class: "muted" }, t("tp_ward_none"))]),
    );
    list.classList.remove("hidden");
    input.setAttribute("aria-expanded", "true");
  };
  input.addEventListener("input", () => {
    delete input.dataset.code;
    clearTimeout(WARDS.timer);
    const q = input.value.trim();
    if (q.length < 2) return close();
    WARDS.timer = setTimeout(async () => {
      try {
        const found = await findWards(q.replace(/[,;]/g, " "));
        if (input.value.trim() === q) show(found);
      } catch {
        close();
      }
    }, 150);
  });
  input.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") close();
  });
  return el("div", { class: "tp-ward-picker" }, input, list);
}

// The caller's last known address: the newest of their patients that has one.
function lastKnown() {
  return [...S.patients].reverse().find((p) => p.street || p.ward_code) || {};
}

function newPatientForm() {
  const form = el(
    "form",
    { class: "tp-new", id: "tp-new-patient" },
    label("h4", "tp_new_patient"),
    el(
      "div",
      { class: "tp-row" },
      field("tp_full_name", el("input", { name: "full_name", required: true, maxlength: 128 })),
      field("tp_age", el("input", { name: "age_years", type: "number", min: 0, max: 130, required: true })),
      field(
        "tp_sex",
        el(
          "select",
          { name: "sex" },
          el("option", { value: "" }, "—"),
          label("option", "sex.female", { value: "female" }),
          label("option", "sex.male", { value: "male" }),
        ),
      ),
      field("tp_street", el("input", { name: "street", maxlength: 200, value: lastKnown().street || "" })),
      field("tp_ward", wardPicker(lastKnown().ward_code), { class: "tp-ward-field" }),
      field("tp_vaccine_doses", el("input", { name: "vaccination_doses", type: "number", min: 0, max: 10 })),
      el("label", { class: "tp-check" }, el("input", { name: "pregnant", type: "checkbox" }), label("span", "tp_pregnant")),
      field(
        "tp_comorbidities",
        el("input", { name: "risk_factors", placeholder: t("tp_comorbidities_hint"), "data-i18n-placeholder": "tp_comorbidities_hint" }),
      ),
    ),
    el("p", { class: "error", id: "tp-new-error" }),
    label("button", "tp_add_patient", { type: "submit", class: "primary" }),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const error = form.querySelector("#tp-new-error");
    const wardCode = await wardCodeOf(form.querySelector("input[name=ward]"));
    if (wardCode === undefined) {
      error.textContent = t("tp_ward_pick");
      return;
    }
    try {
      const p = await api("POST", `${API}/patients`, { ...readPatient(form), ward_code: wardCode });
      S.patients.push(p);
      pick(p);
    } catch (e) {
      form.querySelector("#tp-new-error").textContent = e.message;
    }
  });
  return form;
}

function readPatient(form) {
  const f = new FormData(form);
  const num = (k) => (f.get(k) === "" || f.get(k) === null ? null : Number(f.get(k)));
  return {
    full_name: f.get("full_name"),
    phones: [S.call.caller],
    age_years: num("age_years"),
    sex: f.get("sex") || null,
    street: String(f.get("street") || "").trim() || null,
    vaccination_doses: num("vaccination_doses"),
    pregnant: f.get("pregnant") === "on",
    risk_factors: String(f.get("risk_factors") || "")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
  };
}

function patientFacts(p) {
  const risks = [...p.risk_factors, ...(p.pregnant ? [t("tp_pregnant_word")] : [])];
  return [
    age(p),
    word("sex", p.sex),
    p.street,
    p.ward_code && (wardLabelOf(p.ward_code) || t("tp_ward_n", { code: p.ward_code })),
    p.care_tier && t("tp_tier_n", { n: p.care_tier }),
    risks.length && t("tp_risk_list", { risks: risks.join(", ") }),
  ]
    .filter(Boolean)
    .map((fact) => ` · ${fact}`)
    .join("");
}

function renderHead() {
  const p = S.patient;
  $("tp-head").replaceWith(
    el(
      "div",
      { class: "tp-head", id: "tp-head" },
      el("div", {}, el("strong", { class: "tp-name" }, p.full_name), el("span", { class: "muted" }, patientFacts(p))),
      S.patients.length > 1 && el("button", { type: "button", class: "link", onclick: renderPatients }, t("tp_other_patient")),
    ),
  );
}

function pick(p) {
  S.patient = p;
  S.signed = null;
  panel().replaceChildren(
    el("div", { class: "tp-head", id: "tp-head" }),
    el(
      "div",
      { class: "tp-grid" },
      el("div", { id: "tp-timeline" }, el("p", { class: "muted" }, t("tp_loading_history"))),
      assessmentForm(),
    ),
    el("div", { id: "tp-next", "aria-live": "polite" }),
  );
  renderHead();
  loadTimeline();
  rescore();
}

// ------------------------------------------------------------------ timeline

async function loadTimeline() {
  const box = $("tp-timeline");
  if (!box) return;
  try {
    const tl = await api("GET", `${API}/patients/${S.patient.id}/timeline`);
    // The chart is drawn at the width it is shown, so its text keeps its pixel size (>= 11 px).
    const width = Math.round(box.clientWidth) || 320;
    box.replaceChildren(el("h4", {}, t("tp_trend")), trendChart(tl.trend, width), el("h4", {}, t("tp_timeline")), timelineList(tl.items));
  } catch (e) {
    box.replaceChildren(el("p", { class: "muted" }, e.status === 403 ? t("tp_history_care_team") : e.message));
  }
}

function trendChart(trend, width = 320) {
  const W = Math.max(160, Math.min(width, 640));
  const H = 132;
  const L = 30;
  const R = 40;
  const T = 10;
  const B = 20;
  const chart = svg("svg", {
    viewBox: `0 0 ${W} ${H}`,
    width: W,
    height: H,
    class: "tp-chart",
    role: "img",
    "aria-label": t("tp_trend_label"),
  });
  if (!trend.length) {
    chart.append(svg("text", { x: 10, y: 60, class: "tp-axis" }, t("tp_no_assessments")));
    return chart;
  }
  const n = trend.length;
  const x = (i) => (n === 1 ? (L + W - R) / 2 : L + (i * (W - L - R)) / (n - 1));
  const yNews = (v) => T + (H - T - B) * (1 - Math.min(v, 15) / 15);
  const ySpo2 = (v) => T + (H - T - B) * (1 - (Math.max(v, 80) - 80) / 20);
  // Bands a doctor reads at a glance: NEWS2 >= 5 and SpO2 <= 96 (the warning sign).
  chart.append(
    svg("rect", { x: L, y: yNews(15), width: W - L - R, height: yNews(5) - yNews(15), class: "tp-band" }),
    svg("line", { x1: L, x2: W - R, y1: ySpo2(96), y2: ySpo2(96), class: "tp-spo2-limit" }),
    svg("text", { x: 2, y: yNews(0), class: "tp-axis" }, number(0)),
    svg("text", { x: 2, y: yNews(15) + 10, class: "tp-axis" }, number(15)),
    svg("text", { x: W - R + 3, y: ySpo2(100) + 10, class: "tp-axis" }, `${number(100)}%`),
    svg("text", { x: W - R + 3, y: ySpo2(80), class: "tp-axis" }, `${number(80)}%`),
  );
  const line = (key, y, cls) => {
    const pts = trend.map((p, i) => (p[key] === null ? null : [x(i), y(p[key])])).filter(Boolean);
    if (pts.length > 1) chart.append(svg("polyline", { points: pts.map((p) => p.join(",")).join(" "), class: cls }));
    for (const [px, py] of pts) chart.append(svg("circle", { cx: px, cy: py, r: 3, class: `${cls}-dot` }));
  };
  line("news2", yNews, "tp-news2");
  line("spo2", ySpo2, "tp-spo2");
  trend.forEach((p, i) =>
    chart.append(svg("text", { x: x(i), y: H - 4, class: "tp-axis", "text-anchor": "middle" }, dayMonth(p.at))),
  );
  const legend = el(
    "div",
    { class: "tp-legend" },
    el("span", { class: "tp-key tp-key-news2" }, "NEWS2"),
    el("span", { class: "tp-key tp-key-spo2" }, "SpO₂"),
  );
  return el("div", {}, chart, legend);
}

function timelineItem(i) {
  if (i.kind === "assessment") {
    const d = i.decision;
    const facts = t("tp_item_facts", {
      spo2: number(i.vitals.spo2),
      severity: i.scores.severity ? word("severity", i.scores.severity) : "?",
    });
    const decided =
      d.action === "transfer"
        ? t("tp_item_transfer", { level: word("bed", d.level_of_care) })
        : t("tp_item_home", { hours: number(d.follow_up_hours, 1, 0) });
    return el(
      "li",
      { class: "tp-item" },
      el("time", {}, dateTime(i.at)),
      " ",
      el("strong", {}, `NEWS2 ${number(i.scores.news2.total)}`),
      ` · ${facts} · ${decided}`,
      i.overridden ? el("span", { class: "tp-override" }, ` ${t("tp_override")}`) : null,
      i.amends_id ? el("span", { class: "muted" }, ` ${t("tp_amendment")}`) : null,
    );
  }
  if (i.kind === "follow_up") {
    if (i.state === "cancelled") return null;
    return el("li", { class: "tp-item muted" }, el("time", {}, dateTime(i.at)), ` ${t("tp_item_follow_up", { state: word("follow_up", i.state) })}`);
  }
  if (i.kind === "transfer_step") return stepItem(i.step);
  const status = word("transfer", i.dispatch_status || i.state);
  return el("li", { class: "tp-item" }, el("time", {}, dateTime(i.at)), ` ${t("tp_item_transfer_request", { bed: word("bed", i.bed_type), status })}`);
}

/** One step of a transfer at dispatch (requested, bed held, accepted, refused, admitted...). */
function stepItem(s) {
  const step = word("transfer", s.kind);
  const text = s.hospital_name ? t("tp_item_step_at", { step, hospital: s.hospital_name }) : t("tp_item_step", { step });
  return el("li", { class: "tp-item tp-step", "data-step": s.kind }, el("time", {}, dateTime(s.at)), ` ${text}`);
}

function timelineList(items) {
  if (!items.length) return el("p", { class: "muted" }, t("tp_nothing_yet"));
  const all = items.flatMap((i) =>
    i.kind === "transfer" ? [i, ...(i.steps || []).map((step) => ({ kind: "transfer_step", at: step.at, step }))] : [i],
  );
  all.sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  return el("ol", { class: "tp-items" }, all.reverse().map(timelineItem));
}

// ------------------------------------------------------------------ assessment

// The vitals, the oxygen scale and the symptoms: what the live score is computed from.
function vitalFields() {
  const vital = ([name, step]) =>
    field(`vital.${name}`, el("input", { name, type: "number", step, inputmode: "decimal", "data-vital": name }));
  const consciousness = el(
    "select",
    { name: "consciousness" },
    el("option", { value: "" }, "—"),
    CONSCIOUSNESS.map((c) => label("option", `consciousness.${c}`, { value: c })),
  );
  const scale = el("select", { name: "spo2_scale" }, el("option", { value: "1" }, "1"), label("option", "tp_spo2_scale_2", { value: "2" }));
  const symptom = (code) =>
    el("label", { class: "tp-check" }, el("input", { type: "checkbox", name: "symptom", value: code }), label("span", `symptom.${code}`));
  return [
    el(
      "div",
      { class: "tp-row" },
      VITALS.map(vital),
      field("tp_consciousness", consciousness),
      field("tp_spo2_scale", scale),
      el("label", { class: "tp-check" }, el("input", { name: "on_oxygen", type: "checkbox" }), label("span", "tp_on_oxygen")),
    ),
    el("fieldset", { class: "tp-symptoms" }, label("legend", "tp_symptoms"), SYMPTOMS.map(symptom)),
  ];
}

// The doctor's decision, which may differ from the recommendation if a reason is given.
function decisionFields() {
  const decision = el(
    "select",
    { name: "decision", id: "tp-decision" },
    label("option", "tp_accept_recommendation", { value: "" }),
    label("option", "tp_home_care", { value: "home_care" }),
    label("option", "tp_transfer_oxygen", { value: "transfer:oxygen" }),
    label("option", "tp_transfer_icu", { value: "transfer:icu" }),
  );
  const hours = el("input", { name: "follow_up_hours", type: "number", min: 0.5, max: 72, step: 0.5 });
  const reason = el("textarea", { name: "override_reason", rows: 2, maxlength: 1000 });
  return [
    field("tp_decision", decision),
    field("tp_follow_up_in", hours, { id: "tp-hours-label" }),
    field("tp_override_reason", reason, { id: "tp-reason-label", class: "hidden" }),
    field("tp_notes", el("textarea", { name: "notes", rows: 2, maxlength: 4000 })),
  ];
}

function assessmentForm() {
  const form = el(
    "form",
    { id: "tp-assess", class: "tp-assess", novalidate: true },
    // What the caller reports, then (beside it on a wide screen) the live score, the decision and
    // Sign: at 1366x768 all of it fits without scrolling during a call.
    el("div", { class: "tp-col-in" }, label("h4", "tp_assessment"), vitalFields()),
    el(
      "div",
      { class: "tp-col-out" },
      el("div", { id: "tp-score", class: "tp-score", "aria-live": "polite" }),
      decisionFields(),
      el("p", { class: "error", id: "tp-error", role: "alert" }),
      label("button", "tp_sign", { type: "submit", class: "primary", id: "tp-sign" }),
      // The rules the live score follows, in words, below Sign so the button stays in view.
      el("div", { id: "tp-rules-line" }),
    ),
  );
  form.addEventListener("input", () => {
    clearTimeout(S.timer);
    S.timer = setTimeout(rescore, 250);
    showOverride();
  });
  form.addEventListener("submit", signAssessment);
  return form;
}

function readVitals() {
  const f = new FormData($("tp-assess"));
  const v = {};
  for (const [name] of VITALS) if (f.get(name) !== "") v[name] = Number(f.get(name));
  if (f.get("consciousness")) v.consciousness = f.get("consciousness");
  v.spo2_scale = Number(f.get("spo2_scale"));
  // Unticked means "on air" only once an SpO2 is given; otherwise oxygen is unknown.
  if (f.get("on_oxygen") === "on") v.on_oxygen = true;
  else if (v.spo2 !== undefined) v.on_oxygen = false;
  v.symptoms = f.getAll("symptom");
  return v;
}

function decisionFromForm() {
  const form = $("tp-assess");
  const choice = form.elements.decision.value;
  const hours = form.elements.follow_up_hours.value;
  if (!choice && !hours) return null;
  if (choice.startsWith("transfer")) return { action: "transfer", level_of_care: choice.split(":")[1] };
  const rec = S.last?.disposition;
  if (!choice && rec?.action === "transfer") return null;
  return { action: "home_care", ...(hours ? { follow_up_hours: Number(hours) } : {}) };
}

function differs() {
  const d = decisionFromForm();
  const rec = S.last?.disposition;
  if (!d || !rec) return false;
  if (d.action !== rec.action) return true;
  if (d.action === "transfer") return d.level_of_care !== rec.level_of_care;
  return d.follow_up_hours !== undefined && d.follow_up_hours !== rec.follow_up_hours;
}

function showOverride() {
  $("tp-reason-label")?.classList.toggle("hidden", !differs());
}

async function rescore() {
  const box = $("tp-score");
  if (!box || !S.patient) return;
  const age = S.patient.age_years;
  if (age === null || age === undefined) {
    box.replaceChildren(el("p", { class: "muted" }, t("tp_needs_age")));
    return;
  }
  const vitals = readVitals();
  if (Object.keys(vitals).length <= 2 && !vitals.symptoms.length) {
    // Nothing entered yet: an empty form would "recommend" home care, which means nothing.
    S.last = null;
    box.replaceChildren(el("p", { class: "muted" }, t("tp_enter_vitals")));
    return;
  }
  try {
    S.last = await api("POST", `${API}/score`, { age, ...vitals });
    $("tp-error").textContent = "";
    renderScore(box, S.last);
  } catch (e) {
    box.replaceChildren(el("p", { class: "error tp-field-error" }, e.message));
  }
  showOverride();
}

function recommendation(d) {
  if (d.action !== "transfer") return t("tp_rec_home", { hours: number(d.follow_up_hours, 1, 0) });
  const key = d.level_of_care === "icu" ? "tp_rec_transfer_icu" : "tp_rec_transfer_oxygen";
  return t(key, { urgency: word("urgency", d.urgency) });
}

// An incomplete NEWS2 is a lower bound: only the band its known parameters prove, never "low".
function news2Risk(n) {
  if (n.total == null) return t("tp_not_scored");
  if (n.complete) return t("tp_risk_band", { risk: word("risk", n.risk) });
  if (!n.risk) return t("tp_risk_unknown");
  if (n.risk === "high") return t("tp_risk_band", { risk: word("risk", n.risk) });
  return t("tp_risk_at_least", { risk: word("risk", n.risk) });
}

function renderScore(box, s) {
  const n = s.news2;
  const d = s.disposition;
  const signs = s.warning_signs.map((code) => word("sign", code)).join(", ");
  box.replaceChildren(
    el(
      "div",
      { class: `tp-news tp-risk-${n.risk || "none"}` },
      el("span", { class: "tp-big", id: "tp-news2-total" }, n.at_least ? t("tp_at_least", { n: number(n.total) }) : number(n.total)),
      el("span", {}, "NEWS2", el("br"), el("small", { id: "tp-news2-risk" }, news2Risk(n))),
    ),
    el(
      "div",
      { class: "tp-score-text" },
      n.complete || n.total == null
        ? null
        : el(
            "div",
            { class: "tp-missing", id: "tp-news2-missing" },
            t("tp_missing_named", { names: n.missing.map((m) => word("news2part", m)).join(", ") }),
          ),
      el("div", {}, el("strong", {}, t("tp_severity")), " ", s.severity ? word("severity", s.severity) : "—"),
      el("div", {}, el("strong", {}, t("tp_warning_signs")), " ", signs ? el("span", { class: "tp-signs" }, signs) : t("tp_none")),
      el(
        "div",
        { class: `tp-rec tp-rec-${d.action}`, id: "tp-recommendation" },
        el("strong", {}, t("tp_recommendation")),
        " ",
        recommendation(d),
      ),
      n.total == null
        ? null
        : el("div", { id: "tp-news2-response" }, el("strong", {}, t("tp_news2_response")), " ", news2Response(n)),
    ),
  );
  $("tp-rules-line")?.replaceChildren(rulesLabel(s.rules_version, { class: "muted small", id: "tp-rules" }));
}

// What NEWS2 asks for at this band, in the page's language (the API's sentence is English).
function news2Response(n) {
  if (n.response_code) return t(`news2response.${n.response_code}`);
  if (!n.risk) return t("news2response.unknown");
  if (n.complete && n.risk === "low" && n.total === 0) return t("news2response.low_zero");
  return t(`news2response.${n.risk}`);
}

async function signAssessment(ev) {
  ev.preventDefault();
  const form = ev.target;
  const err = $("tp-error");
  err.textContent = "";
  const body = {
    vitals: { age: S.patient.age_years, ...readVitals() },
    notes: form.elements.notes.value,
    call_id: S.call.id,
    phone: S.call.caller,
  };
  const decision = decisionFromForm();
  if (decision) body.decision = decision;
  if (differs()) body.override_reason = form.elements.override_reason.value;
  const button = $("tp-sign");
  button.disabled = true;
  try {
    const a = await api("POST", `${API}/patients/${S.patient.id}/assessments`, body);
    showNext(a);
    // The signed decision is the call's outcome: the doctor does not choose it twice.
    const outcome = document.getElementById("disposition");
    if (outcome && a.decision?.action) outcome.value = a.decision.action === "transfer" ? "transfer" : "home_care";
    form.reset();
    loadTimeline();
    rescore();
  } catch (e) {
    err.textContent = e.message;
  } finally {
    button.disabled = false;
  }
}

function renderNext() {
  const { assessment: a, transfer: tr } = S.signed;
  const signed = el(
    "p",
    { class: "muted", title: a.rules_version },
    t("tp_signed_line", { at: dateTime(a.signed_at), rules: rulesText(a.rules_version), hash: a.content_hash.slice(0, 12) }),
  );
  let step;
  if (a.follow_up) {
    const fu = a.follow_up;
    step = el(
      "div",
      { class: "tp-next tp-next-home", id: "tp-next-step" },
      el("strong", {}, t("tp_next")),
      " ",
      t("tp_next_follow_up", { due: dateTime(fu.due_at), hours: number(fu.interval_hours, 1, 0) }),
      " ",
      followUpWhy(a, fu),
    );
  } else {
    const status = tr.dispatch_status || tr.state;
    step = el(
      "div",
      { class: "tp-next tp-next-transfer", id: "tp-next-step" },
      el("strong", {}, t("tp_next")),
      " ",
      t(tr.bed_type === "icu" ? "tp_next_transfer_icu" : "tp_next_transfer_oxygen", { urgency: word("urgency", tr.urgency) }),
      " ",
      t("tp_dispatch"),
      " ",
      el("span", { class: "tp-status", id: "tp-transfer-status", "data-status": status }, word("transfer", status)),
      " · ",
      el("span", { id: "tp-transfer-hospital" }, hospitalOf(tr)),
    );
  }
  $("tp-next")?.replaceChildren(step, signed);
  renderAfterCall();
}

// Why the follow-up is due when it is, from the reason's code and numbers (the sentence is English).
function followUpWhy(a, fu) {
  const p = fu.reason_params || {};
  const n = (v) => number(v, 1, 0);
  let text = null;
  if (fu.reason_code === "news2_rose") text = t("fu_reason.news2_rose", { from: n(p.from), to: n(p.to), hours: n(p.hours) });
  else if (fu.reason_code === "spo2_fell")
    text = t("fu_reason.spo2_fell", { from: n(p.from), to: n(p.to), limit: n(p.limit), hours: n(p.hours) });
  else if (a.decision?.follow_up_hours && fu.interval_hours < a.decision.follow_up_hours)
    text = t("tp_fu_shortened", { from: n(a.decision.follow_up_hours), to: n(fu.interval_hours) });
  return text && el("span", { id: "tp-follow-up-why" }, text);
}

function hospitalOf(tr) {
  return t("tp_transfer_to", { hospital: tr.hospital_name || t("tp_transfer_no_hospital") });
}

// After "complete call" the call panel goes; the transfer's status, hospital and steps stay in
// view (wrap-up, then idle) until the next call opens.
function renderAfterCall() {
  const box = document.getElementById("after-call-transfer");
  if (!box) return;
  const tr = S.signed && S.signed.transfer;
  if (!tr || !S.patient) {
    box.replaceChildren();
    box.classList.add("hidden");
    return;
  }
  const status = tr.dispatch_status || tr.state;
  box.classList.remove("hidden");
  box.replaceChildren(
    el("h3", {}, t("wrapup_transfer", { patient: S.patient.full_name })),
    el(
      "p",
      {},
      el("span", { class: "tp-status", id: "after-call-status", "data-status": status }, word("transfer", status)),
      " · ",
      el("span", { id: "after-call-hospital" }, hospitalOf(tr)),
    ),
    el("ol", { class: "tp-items" }, (tr.steps || []).slice().reverse().map(stepItem)),
  );
}

function showNext(a) {
  clearInterval(S.poll);
  S.signed = { assessment: a, transfer: a.transfer };
  renderNext();
  if (a.follow_up) return;
  // The doctor sees the request move (matching, bed held, ambulance) without reloading.
  S.poll = setInterval(async () => {
    try {
      const fresh = await api("GET", `${API}/assessments/${a.id}`);
      if (fresh.transfer && S.signed && S.signed.assessment.id === a.id) {
        const before = JSON.stringify(S.signed.transfer.steps || []);
        S.signed.transfer = fresh.transfer;
        renderNext();
        if (JSON.stringify(fresh.transfer.steps || []) !== before) loadTimeline();
      }
    } catch (e) {
      // A blip is retried on the next tick; only a record this doctor may no longer read stops it.
      if (e.status === 403 || e.status === 404) clearInterval(S.poll);
    }
  }, 5000);
}

// ------------------------------------------------------------------ wiring

follow("call", open);
onLanguageChange(() => {
  if (!S.call) return;
  if (!S.patient) {
    renderPatients();
    return;
  }
  renderHead();
  loadTimeline();
  if (S.last) renderScore($("tp-score"), S.last);
  else rescore();
  if (S.signed) renderNext();
});
