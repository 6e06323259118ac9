// The hospital page: current bed counts with a quick update form, incoming requests, admissions.
"use strict";

const { api, el, countdown, time, toast } = Dispatch;
let hospitalId = null;
let editing = false;

async function ready() {
  const me = await api("GET", "/api/v1/auth/me");
  if (!me.hospital_id) throw new Error("this page is for hospital staff");
  hospitalId = me.hospital_id;
  const h = await api("GET", `/api/v1/hospitals/${hospitalId}`);
  document.getElementById("hospital-name").textContent = h.name;
  document.getElementById("who").textContent = me.username;
  document.getElementById("signin-view").classList.add("hidden");
  document.getElementById("app").classList.remove("hidden");
  await refresh();
  setInterval(() => refresh().catch((e) => toast(e.message)), 2000);
  setInterval(() => {
    for (const n of document.querySelectorAll("[data-expires]")) n.replaceWith(countdown(n.dataset.expires));
  }, 1000);
}

async function refresh() {
  const incoming = await api("GET", `/api/v1/hospitals/${hospitalId}/transfers`);
  renderIncoming(incoming);
  // Do not overwrite counts someone is typing.
  if (!editing) renderBeds(await api("GET", `/api/v1/hospitals/${hospitalId}/beds`));
  document.getElementById("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
}

function renderIncoming(list) {
  const tbody = document.querySelector("#incoming tbody");
  document.getElementById("no-incoming").classList.toggle("hidden", list.length > 0);
  tbody.replaceChildren(
    ...list.map((t) => {
      const box = el("div", { class: "actions" });
      if (t.status === "held") {
        box.append(el("button", { type: "button", class: "primary", onclick: () => step(t, "accept") }, "Accept"));
        box.append(el("button", { type: "button", class: "danger", onclick: () => refuse(t) }, "Refuse"));
      }
      if (["held", "accepted", "in_transit"].includes(t.status)) {
        box.append(el("button", { type: "button", onclick: () => step(t, "admit") }, "Admit"));
      }
      return el(
        "tr",
        { "data-id": t.id },
        el("td", {}, el("span", { class: `pill u-${t.urgency}` }, t.urgency)),
        el("td", {}, t.patient_ref),
        el("td", {}, t.bed_type),
        el("td", {}, el("span", { class: `pill s-${t.status}` }, t.status.replaceAll("_", " "))),
        el("td", {}, t.hold_expires_at ? countdown(t.hold_expires_at) : ""),
        el("td", {}, t.note || (t.ambulance ? `ambulance ${t.ambulance.name}` : "")),
        el("td", {}, box)
      );
    })
  );
}

async function step(t, what, body) {
  try {
    await api("POST", `/api/v1/transfers/${t.id}/${what}`, body);
    toast(`${t.patient_ref}: ${what} done`);
  } catch (e) {
    toast(`${t.patient_ref}: ${e.message}`);
  }
  await refresh();
}

function refuse(t) {
  const reason = prompt(`Why can you not take ${t.patient_ref}?`, "no bed staffed");
  if (reason !== null) step(t, "refuse", { reason });
}

function renderBeds(beds) {
  const tbody = document.querySelector("#beds tbody");
  tbody.replaceChildren(
    ...beds.pools.map((p) => {
      const input = (name, value) =>
        el("input", { class: "count", name, type: "number", min: "0", value, "aria-label": `${p.bed_type} ${name}`,
          onfocus: () => (editing = true) });
      const row = el(
        "tr",
        { "data-bed-type": p.bed_type },
        el("td", {}, p.bed_type),
        el("td", { class: "num" }, input("total", p.total)),
        el("td", { class: "num" }, input("occupied", p.occupied)),
        el("td", { class: "num" }, input("out_of_service", p.out_of_service)),
        el("td", { class: "num" }, p.held),
        el("td", { class: "num" }, el("span", { class: "avail" + (p.available <= 0 ? " zero" : "") }, p.available)),
        el("td", {}, time(p.as_of), p.stale ? el("span", { class: "stale" }, " stale") : ""),
        el("td", {}, el("button", { type: "button", class: "primary", onclick: () => save(row, p.bed_type) }, "Save"))
      );
      return row;
    })
  );
}

async function save(row, bedType) {
  const error = document.getElementById("beds-error");
  error.textContent = "";
  const n = (name) => Number(row.querySelector(`input[name=${name}]`).value);
  try {
    await api("PUT", `/api/v1/hospitals/${hospitalId}/beds/${bedType}`, {
      total: n("total"), occupied: n("occupied"), out_of_service: n("out_of_service"),
      as_of: new Date().toISOString(),
    });
    toast(`${bedType} saved`);
    editing = false;
  } catch (e) {
    error.textContent = `${bedType}: ${e.message}`;
  }
  await refresh();
}

Dispatch.wireSignIn(ready);
