// The dispatch board: live requests by urgency, candidates, hold countdown, override, transport, cancel.
import { $, api, clock, countdown, el, minutes, number, onLanguageChange, openPage, pill, t, tickCountdowns, toast,
  word } from "./toolkit.js";
import { patientCell } from "./patient-card.js";

const ENDED = ["admitted", "cancelled"];
const OVERRIDABLE = ["requested", "matching", "refused", "waiting_for_bed", "held"];
const BED_TYPES = ["general", "oxygen", "icu", "ventilator", "ecmo", "paediatric", "obstetric"];
const URGENCIES = ["emergency", "urgent", "routine"];
let selectedId = null;
let transfers = [];
let teams = [];
let me = null;

async function start() {
  me = await api("GET", "/api/v1/auth/me");
  renderWho();
  await refresh();
  // Polling every 2 s keeps the board live without a websocket; a missed push cannot go unseen.
  setInterval(() => refresh().catch((e) => toast(e.message)), 2000);
  setInterval(tickCountdowns, 1000);
}

function renderWho() {
  $("who").textContent = `${me.username} (${word("role", me.role)})`;
}

async function refresh() {
  transfers = await api("GET", "/api/v1/transfers");
  renderBoard();
  teams = await api("GET", "/api/v1/ambulances");
  renderTeams();
  if (selectedId) await renderDetail(selectedId);
  $("updated").textContent = t("updated_at", { time: clock(new Date(), true) });
}

function renderTeams() {
  const row = (team) =>
    el(
      "tr",
      {},
      el("td", {}, team.name),
      el("td", {}, el("span", { class: `pill ${team.status === "free" ? "s-admitted" : "s-in_transit"}` }, word("ambulance", team.status))),
    );
  $("ambulances").querySelector("tbody").replaceChildren(
    ...(teams.length ? teams.map(row) : [el("tr", {}, el("td", { colspan: "2", class: "muted" }, t("no_ambulances")))]),
  );
}

function hospitalCell(tr) {
  if (tr.hospital_name) return tr.hospital_name;
  if (tr.candidates[0]) return el("span", { class: "muted" }, t("best_candidate", { hospital: tr.candidates[0].hospital_name }));
  return "—";
}

function holdCell(tr) {
  if (tr.hold_expires_at) return countdown(tr.hold_expires_at);
  return tr.hold_accepted_at ? t("hold_accepted") : "";
}

function renderBoard() {
  const live = transfers.filter((tr) => !ENDED.includes(tr.status));
  const waiting = live.filter((tr) => tr.status === "waiting_for_bed").length;
  $("counts").textContent = t("board_counts", { live: number(live.length), waiting: number(waiting) });
  $("empty").classList.toggle("hidden", transfers.length > 0);
  $("board").querySelector("tbody").replaceChildren(
    ...transfers.map((tr) =>
      el(
        "tr",
        { class: `row-click${tr.id === selectedId ? " selected" : ""}`, "data-id": tr.id, onclick: () => select(tr.id) },
        el("td", {}, pill("urgency", tr.urgency, "u")),
        el("td", {}, patientCell(tr)),
        el("td", {}, word("bed", tr.bed_type)),
        el("td", {}, pill("transfer", tr.status, "s")),
        el("td", {}, hospitalCell(tr)),
        el("td", {}, holdCell(tr)),
        el(
          "td",
          {},
          ENDED.includes(tr.status)
            ? t("ended_at", { time: clock(tr.status_at) })
            : minutes((Date.now() - new Date(tr.requested_at)) / 60000),
        ),
        el("td", {}, actions(tr)),
      ),
    ),
  );
}

function actions(tr) {
  const box = el("div", { class: "actions" });
  const stop = (fn) => (e) => {
    e.stopPropagation();
    fn();
  };
  if (["held", "accepted"].includes(tr.status)) {
    box.append(el("button", { type: "button", onclick: stop(() => act(tr.id, "transport")) }, t("assign_transport")));
  }
  if (!ENDED.includes(tr.status)) {
    box.append(el("button", { type: "button", class: "danger", onclick: stop(() => cancel(tr)) }, t("cancel")));
  }
  return box;
}

async function act(id, step, body) {
  try {
    await api("POST", `/api/v1/transfers/${id}/${step}`, body);
    toast(t("step_done", { step: word("step", step) }));
  } catch (e) {
    toast(`${word("step", step)}: ${e.message}`);
  }
  await refresh();
}

function cancel(tr) {
  if (confirm(t("confirm_cancel", { patient: tr.patient ? tr.patient.full_name : tr.patient_ref }))) act(tr.id, "cancel", { reason: "cancelled by dispatcher" });
}

async function select(id) {
  selectedId = id;
  renderBoard();
  await renderDetail(id);
}

function candidateRow(tr, c) {
  const canOverride = OVERRIDABLE.includes(tr.status) && c.hospital_id !== tr.hospital_id && c.free_now;
  return el(
    "tr",
    { class: c.chosen && tr.hospital_id === c.hospital_id ? "selected" : "" },
    el("td", {}, c.hospital_name),
    el("td", { class: "num" }, number(c.distance_km, 1)),
    el("td", { class: "num" }, t("minutes_n", { n: number(c.travel_min) })),
    el("td", { class: "num" }, t("minutes_n", { n: number(c.time_to_bed_min) })),
    el("td", { class: "num" }, number(c.available)),
    el("td", {}, c.stale ? el("span", { class: "stale" }, t("stale")) : ""),
    el(
      "td",
      {},
      canOverride
        ? el("button", { type: "button", onclick: () => act(tr.id, "override", { hospital_id: c.hospital_id }) }, t("send_here"))
        : "",
    ),
  );
}

function candidates(tr) {
  if (!tr.candidates.length) return el("p", { class: "muted" }, t("no_candidates"));
  const heads = ["hospital", "km", "travel", "bed_in", "free_then"].map((key, i) => el("th", { class: i ? "num" : null }, t(key)));
  return el(
    "table",
    { id: "candidates" },
    el("thead", {}, el("tr", {}, heads, el("th", {}), el("th", {}))),
    el("tbody", {}, tr.candidates.map((c) => candidateRow(tr, c))),
  );
}

function requestFacts(tr) {
  return [
    word("urgency", tr.urgency),
    word("bed", tr.bed_type),
    t("pickup_at", { lat: number(tr.pickup.lat, 4), lon: number(tr.pickup.lon, 4) }),
    tr.pickup.source && word("pickup", tr.pickup.source),
    tr.hospital_name && t("to_hospital", { hospital: tr.hospital_name }),
    tr.ambulance && t("ambulance_named", { name: tr.ambulance.name }),
  ]
    .filter(Boolean)
    .join(" · ");
}

async function renderDetail(id) {
  const tr = await api("GET", `/api/v1/transfers/${id}`);
  $("detail").replaceChildren(
    el("h2", {}, t("request_of", { patient: tr.patient ? tr.patient.full_name : tr.patient_ref }), " ", pill("transfer", tr.status, "s")),
    ...(tr.patient ? [patientCell(tr)] : []),
    el("p", {}, requestFacts(tr)),
    el("h3", {}, t("candidates_title")),
    candidates(tr),
    el("h3", {}, t("history")),
    el(
      "ul",
      { class: "history" },
      tr.history.map((h) =>
        el("li", {}, `${clock(h.at)} ${word("transfer", h.kind)}`, h.actor ? el("span", { class: "muted" }, ` — ${actorName(h.actor)}`) : ""),
      ),
    ),
  );
}

// "user:lan" is the account lan; a process ("worker", "system") is named in words.
function actorName(actor) {
  return actor.startsWith("user:") ? actor.slice(5) : word("actor", actor);
}

function fillRequestForm() {
  const options = (kind, codes, chosen) =>
    codes.map((code) => el("option", { value: code, selected: code === chosen }, word(kind, code)));
  const bed = $("nr-bed");
  const urgency = $("nr-urgency");
  bed.replaceChildren(...options("bed", BED_TYPES, bed.value || "oxygen"));
  urgency.replaceChildren(...options("urgency", URGENCIES, urgency.value || "urgent"));
}

$("new-request").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = e.target;
  const error = $("nr-error");
  error.textContent = "";
  try {
    const out = await api("POST", "/api/v1/transfers", {
      patient_ref: f.patient_ref.value,
      bed_type: f.bed_type.value,
      urgency: f.urgency.value,
      pickup: { lat: Number(f.lat.value), lon: Number(f.lon.value) },
    });
    f.patient_ref.value = "";
    selectedId = out.id;
    await refresh();
  } catch (err) {
    error.textContent = err.message;
  }
});

fillRequestForm();
onLanguageChange(() => {
  fillRequestForm();
  if (!me) return;
  renderWho();
  renderBoard();
  renderTeams();
  if (selectedId) renderDetail(selectedId);
});
openPage({ app: "app", refusal: "not_a_dispatcher", start });
