// The hospital page: current bed counts with a quick update form, incoming requests, admissions.
import { $, ApiError, api, clock, countdown, el, number, onLanguageChange, openPage, pill, t, tickCountdowns, toast,
  word } from "./toolkit.js";
import { patientCell } from "./patient-card.js";

// Accept or refuse first; admitting comes once the hospital has accepted.
const ANSWERABLE = ["held"];
const ADMITTABLE = ["accepted", "in_transit"];
const COUNTS = ["total", "occupied", "out_of_service"];
let hospitalId = null;
let incoming = [];
let beds = null;
// Counts typed and not yet saved, by bed type: {total: "12", ...}. The table stays live around
// them: a refresh updates every other cell and never drops or overwrites what is being typed.
const drafts = new Map();

async function start() {
  const me = await api("GET", "/api/v1/auth/me");
  if (!me.hospital_id) throw new ApiError(403, null); // signed in, but not for a hospital
  hospitalId = me.hospital_id;
  const hospital = await api("GET", `/api/v1/hospitals/${hospitalId}`);
  $("hospital-name").textContent = hospital.name;
  $("who").textContent = me.username;
  await refresh();
  setInterval(() => refresh().catch((e) => toast(e.message)), 2000);
  setInterval(tickCountdowns, 1000);
}

async function refresh() {
  incoming = await api("GET", `/api/v1/hospitals/${hospitalId}/transfers`);
  renderIncoming();
  beds = await api("GET", `/api/v1/hospitals/${hospitalId}/beds`);
  renderBeds();
  $("updated").textContent = t("updated_at", { time: clock(new Date(), true) });
}

function answers(tr) {
  const box = el("div", { class: "actions" });
  if (ANSWERABLE.includes(tr.status)) {
    box.append(el("button", { type: "button", class: "primary", onclick: () => step(tr, "accept") }, t("accept_patient")));
    box.append(el("button", { type: "button", class: "danger", onclick: () => refuse(tr) }, t("refuse")));
  }
  if (ADMITTABLE.includes(tr.status)) {
    box.append(el("button", { type: "button", onclick: () => step(tr, "admit") }, t("admit")));
  }
  return box;
}

const who = (tr) => (tr.patient ? tr.patient.full_name : tr.patient_ref);

function incomingRow(tr) {
  return el(
    "tr",
    { "data-id": tr.id },
    el("td", {}, pill("urgency", tr.urgency, "u")),
    el("td", {}, patientCell(tr)),
    el("td", {}, word("bed", tr.bed_type)),
    el("td", {}, pill("transfer", tr.status, "s")),
    el("td", {}, tr.hold_expires_at ? countdown(tr.hold_expires_at) : ""),
    // A request from triage carries the card; the free note is for requests typed on the board.
    el("td", {}, (tr.patient ? "" : tr.note) || (tr.ambulance ? t("ambulance_named", { name: tr.ambulance.name }) : "")),
    el("td", {}, answers(tr)),
  );
}

// Admitted patients leave the incoming list for the admissions list below it.
function renderIncoming() {
  const waiting = incoming.filter((tr) => tr.status !== "admitted");
  const admitted = incoming.filter((tr) => tr.status === "admitted");
  $("no-incoming").classList.toggle("hidden", waiting.length > 0);
  $("incoming").querySelector("tbody").replaceChildren(...waiting.map(incomingRow));
  $("no-admissions").classList.toggle("hidden", admitted.length > 0);
  $("admissions").querySelector("tbody").replaceChildren(
    ...admitted.map((tr) =>
      el("tr", { "data-id": tr.id }, el("td", {}, patientCell(tr)), el("td", {}, word("bed", tr.bed_type)), el("td", {}, clock(tr.status_at))),
    ),
  );
}

async function step(tr, what, body) {
  try {
    await api("POST", `/api/v1/transfers/${tr.id}/${what}`, body);
    toast(t("patient_step_done", { patient: who(tr), step: word("step", what) }));
  } catch (e) {
    toast(`${who(tr)}: ${e.message}`);
  }
  await refresh();
}

function refuse(tr) {
  const reason = prompt(t("refuse_why", { patient: who(tr) }), t("refuse_default"));
  if (reason !== null) step(tr, "refuse", { reason });
}

function bedRow(p) {
  const input = (name) =>
    el("input", {
      class: "count",
      name,
      type: "number",
      min: "0",
      value: p[name],
      "aria-label": `${word("bed", p.bed_type)} ${t(name)}`,
      oninput: (ev) => edited(p.bed_type, name, ev.target.value),
    });
  const row = el(
    "tr",
    { "data-bed-type": p.bed_type },
    el("td", {}, word("bed", p.bed_type), el("span", { class: "unsaved-mark" }, ` ${t("unsaved")}`)),
    COUNTS.map((name) => el("td", { class: "num" }, input(name))),
    el("td", { class: "num", "data-cell": "held" }),
    el("td", { class: "num", "data-cell": "available" }),
    el("td", { "data-cell": "as_of" }),
    el("td", {}, el("button", { type: "button", class: "primary", onclick: () => save(row, p.bed_type) }, t("save"))),
  );
  return row;
}

function poolOf(bedType) {
  return beds.pools.find((p) => p.bed_type === bedType);
}

// A typed value equal to the saved one is no edit: leaving the field as it was marks nothing.
function edited(bedType, name, value) {
  const draft = { ...(drafts.get(bedType) || {}), [name]: value };
  const pool = poolOf(bedType);
  for (const key of Object.keys(draft)) if (pool && String(pool[key]) === draft[key]) delete draft[key];
  if (Object.keys(draft).length) drafts.set(bedType, draft);
  else drafts.delete(bedType);
  markUnsaved();
}

function markUnsaved() {
  for (const row of $("beds").querySelectorAll("tbody tr")) {
    row.classList.toggle("unsaved", drafts.has(row.dataset.bedType));
  }
}

// Fill a row from the server's pool, keeping any draft value (and the field being typed in).
function fillRow(row, p) {
  const draft = drafts.get(p.bed_type) || {};
  for (const name of COUNTS) {
    const input = row.querySelector(`input[name=${name}]`);
    const value = name in draft ? draft[name] : String(p[name]);
    if (input.value !== value && document.activeElement !== input) input.value = value;
  }
  row.querySelector("[data-cell=held]").textContent = number(p.held);
  row.querySelector("[data-cell=available]").replaceChildren(
    el("span", { class: `avail${p.available <= 0 ? " zero" : ""}` }, number(p.available)),
  );
  row.querySelector("[data-cell=as_of]").replaceChildren(
    clock(p.as_of),
    p.stale ? el("span", { class: "stale" }, ` ${t("stale")}`) : "",
  );
}

function renderBeds(rebuild = false) {
  const body = $("beds").querySelector("tbody");
  const shown = [...body.querySelectorAll("tr")].map((r) => r.dataset.bedType);
  const wanted = beds.pools.map((p) => p.bed_type);
  if (rebuild || shown.join() !== wanted.join()) body.replaceChildren(...beds.pools.map(bedRow));
  for (const p of beds.pools) fillRow(body.querySelector(`tr[data-bed-type="${p.bed_type}"]`), p);
  markUnsaved();
}

async function save(row, bedType) {
  const error = $("beds-error");
  error.textContent = "";
  const count = (name) => Number(row.querySelector(`input[name=${name}]`).value);
  try {
    await api("PUT", `/api/v1/hospitals/${hospitalId}/beds/${bedType}`, {
      total: count("total"),
      occupied: count("occupied"),
      out_of_service: count("out_of_service"),
      as_of: new Date().toISOString(),
    });
    toast(t("beds_saved", { bed: word("bed", bedType) }));
    drafts.delete(bedType);
  } catch (e) {
    error.textContent = `${word("bed", bedType)}: ${e.message}`;
  }
  await refresh();
}

onLanguageChange(() => {
  if (!hospitalId) return;
  renderIncoming();
  if (beds) renderBeds(true);
});
openPage({ app: "app", refusal: "not_hospital_staff", start });
