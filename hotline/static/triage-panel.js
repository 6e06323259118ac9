// Triage panel of the doctor console: the caller's patients, their timeline and trend,
// the assessment form with live scoring, signing, and what happens next.
// It fills <section id="patient-panel"> when console.js announces a call ("hotline:call").
(() => {
  "use strict";

  const API = "/api/v1/triage";
  const SYMPTOMS = [
    ["shortness_of_breath", "Shortness of breath"],
    ["persistent_chest_pain", "Chest pain"],
    ["cyanosis", "Blue lips / nails"],
    ["cannot_drink", "Cannot drink"],
    ["fever", "Fever"],
    ["cough", "Cough"],
    ["fatigue", "Tiredness"],
    ["new_acute_illness", "New acute illness"],
    ["worried", "Doctor worried"],
  ];
  const VITALS = [
    ["respiratory_rate", "Resp. rate /min", 1],
    ["spo2", "SpO₂ %", 1],
    ["pulse", "Pulse /min", 1],
    ["systolic_bp", "Systolic mmHg", 1],
    ["diastolic_bp", "Diastolic mmHg", 1],
    ["temperature_c", "Temp °C", 0.1],
  ];
  const S = { token: null, call: null, patients: [], patient: null, last: null, timer: null, poll: null };

  // ------------------------------------------------------------------ helpers

  function h(tag, attrs, ...kids) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (v === true) node.setAttribute(k, "");
      else node.setAttribute(k, v);
    }
    for (const kid of kids.flat()) if (kid !== null && kid !== undefined) node.append(kid);
    return node;
  }

  async function api(method, path, body) {
    const res = await fetch(path, {
      method,
      headers: {
        Authorization: `Bearer ${S.token}`,
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) {
      const err = new Error(describe(data));
      err.status = res.status;
      err.data = data;
      throw err;
    }
    return data;
  }

  function describe(data) {
    if (Array.isArray(data.detail)) return data.detail.map((d) => `${d.field}: ${d.rule}`).join("; ");
    return data.detail || data.error || "request failed";
  }

  function panel() {
    return document.getElementById("patient-panel");
  }

  function ensureCss() {
    if (document.querySelector('link[href$="triage-panel.css"]')) return;
    const src = document.currentScript?.src || "triage-panel.js";
    document.head.append(h("link", { rel: "stylesheet", href: src.replace(/\.js$/, ".css") }));
  }

  const fmtTime = (iso) =>
    new Date(iso).toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });

  // ------------------------------------------------------------------ patients

  async function open(call, token) {
    S.token = token;
    S.call = call;
    S.patient = null;
    S.last = null;
    clearInterval(S.poll);
    const root = panel();
    if (!root) return;
    root.classList.add("triage");
    root.replaceChildren(h("p", { class: "muted" }, "Loading patients…"));
    try {
      S.patients = await api("GET", `${API}/patients?phone=${encodeURIComponent(call.caller)}`);
    } catch (e) {
      root.replaceChildren(h("p", { class: "error" }, e.message));
      return;
    }
    if (S.patients.length === 1) return pick(S.patients[0]);
    renderPatients();
  }

  function renderPatients() {
    const root = panel();
    const list = h(
      "ul",
      { class: "tp-patients" },
      S.patients.map((p) =>
        h(
          "li",
          {},
          h(
            "button",
            { type: "button", class: "tp-pick", "data-patient": p.id, onclick: () => pick(p) },
            `${p.full_name} · ${p.age_years ?? "?"} y`,
            p.outcome ? ` · ${p.outcome}` : "",
          ),
        ),
      ),
    );
    root.replaceChildren(
      h("h3", {}, `Patients on ${S.call.caller}`),
      S.patients.length ? list : h("p", { class: "muted" }, "No patient registered on this number yet."),
      newPatientForm(),
    );
  }

  function newPatientForm() {
    const form = h(
      "form",
      { class: "tp-new", id: "tp-new-patient" },
      h("h4", {}, "New patient on this number"),
      h("div", { class: "tp-row" },
        h("label", {}, "Full name", h("input", { name: "full_name", required: true, maxlength: 128 })),
        h("label", {}, "Age", h("input", { name: "age_years", type: "number", min: 0, max: 130, required: true })),
        h("label", {}, "Sex",
          h("select", { name: "sex" }, h("option", { value: "" }, "—"),
            h("option", { value: "female" }, "female"), h("option", { value: "male" }, "male"))),
        h("label", {}, "Ward code", h("input", { name: "ward_code", maxlength: 16 })),
        h("label", {}, "Vaccine doses", h("input", { name: "vaccination_doses", type: "number", min: 0, max: 10 })),
        h("label", { class: "tp-check" }, h("input", { name: "pregnant", type: "checkbox" }), "Pregnant"),
        h("label", {}, "Comorbidities", h("input", { name: "risk_factors", placeholder: "diabetes, obesity" })),
      ),
      h("p", { class: "error", id: "tp-new-error" }),
      h("button", { type: "submit", class: "primary" }, "Add patient"),
    );
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const f = new FormData(form);
      const num = (k) => (f.get(k) === "" || f.get(k) === null ? null : Number(f.get(k)));
      const body = {
        full_name: f.get("full_name"),
        phones: [S.call.caller],
        age_years: num("age_years"),
        sex: f.get("sex") || null,
        ward_code: f.get("ward_code") || null,
        vaccination_doses: num("vaccination_doses"),
        pregnant: f.get("pregnant") === "on",
        risk_factors: String(f.get("risk_factors") || "").split(",").map((s) => s.trim()).filter(Boolean),
      };
      try {
        const p = await api("POST", `${API}/patients`, body);
        S.patients.push(p);
        pick(p);
      } catch (e) {
        form.querySelector("#tp-new-error").textContent = e.message;
      }
    });
    return form;
  }

  async function pick(p) {
    S.patient = p;
    const root = panel();
    root.replaceChildren(
      h("div", { class: "tp-head" },
        h("div", {},
          h("strong", { class: "tp-name" }, p.full_name),
          h("span", { class: "muted" },
            ` · ${p.age_years ?? "?"} y${p.sex ? " · " + p.sex : ""}${p.ward_code ? " · ward " + p.ward_code : ""}`,
            p.care_tier ? ` · tier ${p.care_tier}` : "",
            p.risk_factors.length || p.pregnant
              ? ` · risk: ${[...p.risk_factors, ...(p.pregnant ? ["pregnant"] : [])].join(", ")}` : ""),
        ),
        S.patients.length > 1
          ? h("button", { type: "button", class: "link", onclick: renderPatients }, "Other patient")
          : null,
      ),
      h("div", { class: "tp-grid" },
        h("div", { id: "tp-timeline" }, h("p", { class: "muted" }, "Loading history…")),
        assessmentForm(),
      ),
      h("div", { id: "tp-next", "aria-live": "polite" }),
    );
    loadTimeline();
    rescore();
  }

  // ------------------------------------------------------------------ timeline

  async function loadTimeline() {
    const box = document.getElementById("tp-timeline");
    if (!box) return;
    try {
      const tl = await api("GET", `${API}/patients/${S.patient.id}/timeline`);
      box.replaceChildren(h("h4", {}, "Trend"), trendChart(tl.trend), h("h4", {}, "Timeline"), timelineList(tl.items));
    } catch (e) {
      box.replaceChildren(h("p", { class: "muted" }, e.status === 403 ? "History visible to the care team only." : e.message));
    }
  }

  function trendChart(trend) {
    const NS = "http://www.w3.org/2000/svg";
    const W = 320, H = 120, L = 28, R = 30, T = 8, B = 18;
    const svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.setAttribute("class", "tp-chart");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", "NEWS2 and SpO2 trend");
    const add = (tag, attrs, text) => {
      const n = document.createElementNS(NS, tag);
      for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
      if (text !== undefined) n.textContent = text;
      svg.append(n);
      return n;
    };
    if (!trend.length) {
      add("text", { x: 10, y: 60, class: "tp-axis" }, "No assessments yet");
      return svg;
    }
    const n = trend.length;
    const x = (i) => (n === 1 ? (L + W - R) / 2 : L + (i * (W - L - R)) / (n - 1));
    const yNews = (v) => T + (H - T - B) * (1 - Math.min(v, 15) / 15);
    const ySpo2 = (v) => T + (H - T - B) * (1 - (Math.max(v, 80) - 80) / 20);
    // Bands a doctor reads at a glance: NEWS2 >= 5 and SpO2 <= 96 (the warning sign).
    add("rect", { x: L, y: yNews(15), width: W - L - R, height: yNews(5) - yNews(15), class: "tp-band" });
    add("line", { x1: L, x2: W - R, y1: ySpo2(96), y2: ySpo2(96), class: "tp-spo2-limit" });
    add("text", { x: 2, y: yNews(0), class: "tp-axis" }, "0");
    add("text", { x: 2, y: yNews(15) + 8, class: "tp-axis" }, "15");
    add("text", { x: W - R + 3, y: ySpo2(100) + 8, class: "tp-axis" }, "100%");
    add("text", { x: W - R + 3, y: ySpo2(80), class: "tp-axis" }, "80%");
    const line = (key, y, cls) => {
      const pts = trend.map((p, i) => (p[key] === null ? null : [x(i), y(p[key])])).filter(Boolean);
      if (pts.length > 1) add("polyline", { points: pts.map((p) => p.join(",")).join(" "), class: cls });
      pts.forEach(([px, py], i) => add("circle", { cx: px, cy: py, r: 3, class: cls + "-dot" }));
    };
    line("news2", yNews, "tp-news2");
    line("spo2", ySpo2, "tp-spo2");
    trend.forEach((p, i) =>
      add("text", { x: x(i), y: H - 4, class: "tp-axis", "text-anchor": "middle" },
        new Date(p.at).toLocaleDateString([], { day: "numeric", month: "numeric" })),
    );
    const legend = h("div", { class: "tp-legend" },
      h("span", { class: "tp-key tp-key-news2" }, "NEWS2"), h("span", { class: "tp-key tp-key-spo2" }, "SpO₂"));
    return h("div", {}, svg, legend);
  }

  function timelineList(items) {
    if (!items.length) return h("p", { class: "muted" }, "Nothing yet.");
    return h("ol", { class: "tp-items" },
      items.slice().reverse().map((i) => {
        if (i.kind === "assessment") {
          const d = i.decision;
          return h("li", { class: "tp-item" },
            h("time", {}, fmtTime(i.at)), " ",
            h("strong", {}, `NEWS2 ${i.scores.news2.total ?? "–"}`),
            ` · SpO₂ ${i.vitals.spo2 ?? "–"} · ${i.scores.severity ?? "?"} · `,
            d.action === "transfer" ? `transfer (${d.level_of_care})` : `home, ${d.follow_up_hours} h`,
            i.overridden ? h("span", { class: "tp-override" }, " override") : null,
            i.amends_id ? h("span", { class: "muted" }, " (amendment)") : null);
        }
        if (i.kind === "follow_up" && i.state === "cancelled") return null;
        if (i.kind === "follow_up")
          return h("li", { class: "tp-item muted" }, h("time", {}, fmtTime(i.at)), ` follow-up ${i.state}`);
        return h("li", { class: "tp-item" }, h("time", {}, fmtTime(i.at)),
          ` transfer ${i.bed_type} · ${i.dispatch_status || i.state}`);
      }));
  }

  // ------------------------------------------------------------------ assessment

  function assessmentForm() {
    const num = (name, label, step) =>
      h("label", {}, label, h("input", { name, type: "number", step, inputmode: "decimal", "data-vital": name }));
    const form = h("form", { id: "tp-assess", class: "tp-assess", novalidate: true },
      h("h4", {}, "Assessment"),
      h("div", { class: "tp-row" },
        VITALS.map(([n, l, s]) => num(n, l, s)),
        h("label", {}, "Consciousness",
          h("select", { name: "consciousness" }, h("option", { value: "" }, "—"),
            ["alert", "confusion", "voice", "pain", "unresponsive"].map((c) => h("option", { value: c }, c)))),
        h("label", {}, "SpO₂ scale",
          h("select", { name: "spo2_scale" }, h("option", { value: "1" }, "1"), h("option", { value: "2" }, "2 (target 88–92)"))),
        h("label", { class: "tp-check" }, h("input", { name: "on_oxygen", type: "checkbox" }), "On oxygen"),
      ),
      h("fieldset", { class: "tp-symptoms" }, h("legend", {}, "Symptoms"),
        SYMPTOMS.map(([code, label]) =>
          h("label", { class: "tp-check" }, h("input", { type: "checkbox", name: "symptom", value: code }), label))),
      h("div", { id: "tp-score", class: "tp-score", "aria-live": "polite" }),
      h("label", {}, "Decision",
        h("select", { name: "decision", id: "tp-decision" },
          h("option", { value: "" }, "Accept the recommendation"),
          h("option", { value: "home_care" }, "Home care"),
          h("option", { value: "transfer:oxygen" }, "Transfer — oxygen bed (tier 2)"),
          h("option", { value: "transfer:icu" }, "Transfer — intensive care (tier 3)"))),
      h("label", { id: "tp-hours-label" }, "Follow-up in (h)",
        h("input", { name: "follow_up_hours", type: "number", min: 0.5, max: 72, step: 0.5 })),
      h("label", { id: "tp-reason-label", class: "hidden" }, "Reason for overriding",
        h("textarea", { name: "override_reason", rows: 2, maxlength: 1000 })),
      h("label", {}, "Notes", h("textarea", { name: "notes", rows: 2, maxlength: 4000 })),
      h("p", { class: "error", id: "tp-error", role: "alert" }),
      h("button", { type: "submit", class: "primary", id: "tp-sign" }, "Sign assessment"),
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
    const form = document.getElementById("tp-assess");
    const f = new FormData(form);
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
    const form = document.getElementById("tp-assess");
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
    document.getElementById("tp-reason-label")?.classList.toggle("hidden", !differs());
  }

  async function rescore() {
    const box = document.getElementById("tp-score");
    if (!box || !S.patient) return;
    const age = S.patient.age_years;
    if (age === null || age === undefined) {
      box.replaceChildren(h("p", { class: "muted" }, "Add the patient's age to score."));
      return;
    }
    const vitals = readVitals();
    if (Object.keys(vitals).length <= 2 && !vitals.symptoms.length) {
      // Nothing entered yet: an empty form would "recommend" home care, which means nothing.
      S.last = null;
      box.replaceChildren(h("p", { class: "muted" }, "Enter vitals or symptoms: the score updates as you type."));
      return;
    }
    try {
      S.last = await api("POST", `${API}/score`, { age, ...vitals });
      document.getElementById("tp-error").textContent = "";
      renderScore(box, S.last);
    } catch (e) {
      box.replaceChildren(h("p", { class: "error tp-field-error" }, e.message));
    }
    showOverride();
  }

  function renderScore(box, s) {
    const n = s.news2;
    const d = s.disposition;
    const risk = n.risk || "none";
    box.replaceChildren(
      h("div", { class: `tp-news tp-risk-${risk}` },
        h("span", { class: "tp-big", id: "tp-news2-total" }, n.total ?? "–"),
        h("span", {}, "NEWS2", h("br"), h("small", {}, n.risk ? `${n.risk} risk` : "not scored"),
          n.complete ? null : h("small", { class: "muted" }, ` · missing ${n.missing.length}`))),
      h("div", { class: "tp-score-text" },
        h("div", {}, h("strong", {}, "Severity: "), s.severity ?? "—"),
        h("div", {}, h("strong", {}, "Warning signs: "),
          s.warning_signs.length ? h("span", { class: "tp-signs" }, s.warning_signs.join(", ")) : "none"),
        h("div", { class: `tp-rec tp-rec-${d.action}`, id: "tp-recommendation" },
          h("strong", {}, "Recommendation: "),
          d.action === "transfer"
            ? `transfer to ${d.level_of_care === "icu" ? "intensive care (tier 3)" : "an oxygen bed (tier 2)"}, ${d.urgency}`
            : `home care, follow-up in ${d.follow_up_hours} h`),
        h("small", { class: "muted" }, s.rules_version)),
    );
  }

  async function signAssessment(ev) {
    ev.preventDefault();
    const form = ev.target;
    const err = document.getElementById("tp-error");
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
    const button = document.getElementById("tp-sign");
    button.disabled = true;
    try {
      const a = await api("POST", `${API}/patients/${S.patient.id}/assessments`, body);
      showNext(a);
      form.reset();
      loadTimeline();
      rescore();
    } catch (e) {
      err.textContent = e.message;
    } finally {
      button.disabled = false;
    }
  }

  function showNext(a) {
    const box = document.getElementById("tp-next");
    clearInterval(S.poll);
    const signed = h("p", { class: "muted" },
      `Signed ${fmtTime(a.signed_at)} · ${a.rules_version} · sha256 ${a.content_hash.slice(0, 12)}…`);
    if (a.follow_up) {
      const fu = a.follow_up;
      box.replaceChildren(h("div", { class: "tp-next tp-next-home", id: "tp-next-step" },
        h("strong", {}, "Next: "), `follow-up call ${fmtTime(fu.due_at)} (in ${fu.interval_hours} h). `,
        h("span", { class: "muted" }, fu.reason)), signed);
      return;
    }
    const render = (tr) =>
      box.replaceChildren(h("div", { class: "tp-next tp-next-transfer", id: "tp-next-step" },
        h("strong", {}, "Next: "), `transfer to ${tr.bed_type === "icu" ? "intensive care" : "an oxygen bed"} (${tr.urgency}). `,
        "Dispatch: ", h("span", { class: "tp-status", id: "tp-transfer-status" }, tr.dispatch_status || tr.state)), signed);
    render(a.transfer);
    // The doctor sees the request move (matching, bed held, ambulance) without reloading.
    S.poll = setInterval(async () => {
      try {
        const fresh = await api("GET", `${API}/assessments/${a.id}`);
        if (fresh.transfer) render(fresh.transfer);
      } catch {
        clearInterval(S.poll);
      }
    }, 5000);
  }

  // ------------------------------------------------------------------ wiring

  ensureCss();
  document.addEventListener("hotline:call", (ev) => open(ev.detail.call, ev.detail.token));
  window.triagePanel = { open, rescore };
  // A call already on screen when this script loads (console.js ran first).
  const st = window.hotlineConsole?.state;
  if (st?.call && st?.token) open(st.call, st.token);
})();
