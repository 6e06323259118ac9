// The dispatch board: live requests by urgency, candidates, hold countdown, override, transport, cancel.
"use strict";

const { api, el, countdown, time, toast } = Dispatch;
let selectedId = null;
let transfers = [];
let poller = null;

async function ready() {
  const me = await api("GET", "/api/v1/auth/me");
  document.getElementById("who").textContent = `${me.username} (${me.role})`;
  document.getElementById("signin-view").classList.add("hidden");
  document.getElementById("app").classList.remove("hidden");
  await refresh();
  // Polling every 2 s keeps the board live without a websocket; a missed push cannot go unseen.
  clearInterval(poller);
  poller = setInterval(() => refresh().catch((e) => toast(e.message)), 2000);
  setInterval(tick, 1000);
}

async function refresh() {
  transfers = await api("GET", "/api/v1/transfers");
  renderBoard();
  const teams = await api("GET", "/api/v1/ambulances");
  const tbody = document.querySelector("#ambulances tbody");
  tbody.replaceChildren(
    ...(teams.length
      ? teams.map((t) => el("tr", {}, el("td", {}, t.name), el("td", {}, el("span", { class: `pill ${t.status === "free" ? "s-admitted" : "s-in_transit"}` }, t.status))))
      : [el("tr", {}, el("td", { colspan: "2", class: "muted" }, "No ambulance teams registered."))])
  );
  if (selectedId) await renderDetail(selectedId);
  document.getElementById("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
}

function waitedFor(iso) {
  const m = Math.round((Date.now() - new Date(iso)) / 60000);
  return m < 60 ? `${m} min` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

function renderBoard() {
  const tbody = document.querySelector("#board tbody");
  const live = transfers.filter((t) => !["admitted", "cancelled"].includes(t.status));
  document.getElementById("counts").textContent = `${live.length} live, ${live.filter((t) => t.status === "waiting_for_bed").length} waiting for a bed`;
  document.getElementById("empty").classList.toggle("hidden", transfers.length > 0);
  tbody.replaceChildren(
    ...transfers.map((t) =>
      el(
        "tr",
        { class: "row-click" + (t.id === selectedId ? " selected" : ""), "data-id": t.id, onclick: () => select(t.id) },
        el("td", {}, el("span", { class: `pill u-${t.urgency}` }, t.urgency)),
        el("td", {}, t.patient_ref),
        el("td", {}, t.bed_type),
        el("td", {}, el("span", { class: `pill s-${t.status}` }, t.status.replaceAll("_", " "))),
        el("td", {}, t.hospital_name || (t.candidates[0] ? el("span", { class: "muted" }, `best: ${t.candidates[0].hospital_name}`) : "—")),
        el("td", {}, t.hold_expires_at ? countdown(t.hold_expires_at) : t.hold_accepted_at ? "accepted" : ""),
        el("td", {}, ["admitted", "cancelled"].includes(t.status) ? `ended ${time(t.status_at)}` : waitedFor(t.requested_at)),
        el("td", {}, actions(t))
      )
    )
  );
}

function actions(t) {
  const box = el("div", { class: "actions" });
  const stop = (fn) => (e) => { e.stopPropagation(); fn(); };
  if (["held", "accepted"].includes(t.status)) {
    box.append(el("button", { type: "button", onclick: stop(() => act(t.id, "transport")) }, "Assign transport"));
  }
  if (!["admitted", "cancelled"].includes(t.status)) {
    box.append(el("button", { type: "button", class: "danger", onclick: stop(() => cancel(t)) }, "Cancel"));
  }
  return box;
}

async function act(id, step, body) {
  try {
    await api("POST", `/api/v1/transfers/${id}/${step}`, body);
    toast(`${step}: done`);
  } catch (e) {
    toast(`${step}: ${e.message}`);
  }
  await refresh();
}

function cancel(t) {
  if (confirm(`Cancel the transfer of ${t.patient_ref}? Any held bed is released.`)) act(t.id, "cancel", { reason: "cancelled by dispatcher" });
}

async function select(id) {
  selectedId = id;
  renderBoard();
  await renderDetail(id);
}

async function renderDetail(id) {
  const t = await api("GET", `/api/v1/transfers/${id}`);
  const box = document.getElementById("detail");
  const canOverride = ["requested", "matching", "refused", "waiting_for_bed", "held"].includes(t.status);
  box.replaceChildren(
    el("h2", {}, `Request · ${t.patient_ref} `, el("span", { class: `pill s-${t.status}` }, t.status.replaceAll("_", " "))),
    el("p", {}, `${t.urgency} · ${t.bed_type} · pick-up ${t.pickup.lat.toFixed(4)}, ${t.pickup.lon.toFixed(4)}`,
      t.hospital_name ? ` · to ${t.hospital_name}` : "", t.ambulance ? ` · ambulance ${t.ambulance.name}` : ""),
    el("h3", {}, "Candidates (earliest time to bed first)"),
    t.candidates.length
      ? el("table", { id: "candidates" },
          el("thead", {}, el("tr", {}, el("th", {}, "Hospital"), el("th", { class: "num" }, "km"), el("th", { class: "num" }, "travel"), el("th", { class: "num" }, "bed in"), el("th", { class: "num" }, "free then"), el("th", {}, ""), el("th", {}, ""))),
          el("tbody", {}, ...t.candidates.map((c) =>
            el("tr", { class: c.chosen && t.hospital_id === c.hospital_id ? "selected" : "" },
              el("td", {}, c.hospital_name),
              el("td", { class: "num" }, c.distance_km.toFixed(1)),
              el("td", { class: "num" }, `${Math.round(c.travel_min)} min`),
              el("td", { class: "num" }, `${Math.round(c.time_to_bed_min)} min`),
              el("td", { class: "num" }, c.available),
              el("td", {}, c.stale ? el("span", { class: "stale" }, "stale") : ""),
              el("td", {}, canOverride && c.hospital_id !== t.hospital_id && c.free_now
                ? el("button", { type: "button", onclick: () => act(t.id, "override", { hospital_id: c.hospital_id }) }, "Send here")
                : "")
            ))))
      : el("p", { class: "muted" }, "No candidates yet."),
    el("h3", {}, "History"),
    el("ul", { class: "history" }, ...t.history.map((h) => el("li", {}, `${time(h.at)} ${h.kind.replaceAll("_", " ")}`, h.actor ? el("span", { class: "muted" }, ` — ${h.actor}`) : "")))
  );
}

function tick() {
  for (const node of document.querySelectorAll("[data-expires]")) node.replaceWith(countdown(node.dataset.expires));
}

document.getElementById("new-request").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = e.target;
  const error = document.getElementById("nr-error");
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

Dispatch.wireSignIn(ready);
