// The supervisor's first board: live branches, doctors, waiting calls, KPIs, staffing and coverage.
import { $, api, branchFigure, branchLabel, clock, duration, el, number, onLanguageChange, openPage, percent, seconds,
  t, word } from "./toolkit.js";

const POLL_MS = 2000;
let overview = null;

async function start() {
  overview = await api("GET", "/api/v1/supervisor/overview");
  fillBranchSelects();
  const now = new Date();
  const local = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  $("kpi-from").value = local(new Date(now.getTime() - 86400000));
  $("kpi-to").value = local(now);
  $("cov-date").value = local(now).slice(0, 10);
  renderOverview();
  setInterval(poll, POLL_MS);
}

function fillBranchSelects() {
  document.querySelectorAll(".branch-select").forEach((select) => {
    const chosen = select.value;
    select.replaceChildren(...overview.branches.map((b) => el("option", { value: b.digit }, branchLabel(b.digit, b))));
    if (chosen) select.value = chosen;
  });
}

async function poll() {
  try {
    overview = await api("GET", "/api/v1/supervisor/overview");
    $("reconnect-banner").classList.add("hidden");
    renderOverview();
  } catch (err) {
    // The server is unreachable or failing: say the figures are stale until a poll succeeds.
    $("reconnect-banner").classList.remove("hidden");
    $("updated").textContent = `${t("error")}: ${err.message}`;
  }
}

const th = (key, cls) => el("th", { class: cls }, t(key));

function renderOverview() {
  if (!overview) return;
  $("updated").textContent = clock(overview.at, true);
  $("live-branches").replaceChildren(...overview.branches.map((b) => branchFigure(b.digit, b, b)));
  $("doctor-table").replaceChildren(
    el("tr", {}, th("doctor"), th("branch"), th("status")),
    ...overview.doctors.map((d) =>
      el(
        "tr",
        {},
        el("td", {}, d.full_name, el("div", { class: "muted" }, d.organisation)),
        el("td", {}, Object.keys(d.branches).join(", ")),
        el("td", {}, el("span", { class: `state-pill state-${d.state}` }, word("presence", d.state))),
      ),
    ),
  );
  const calls = overview.branches.flatMap((b) => b.calls.map((c) => ({ ...c, branch: b.digit })));
  calls.sort((a, b) => b.waited_s - a.waited_s);
  $("waiting-calls").replaceChildren(
    calls.length
      ? el(
          "table",
          {},
          el("tr", {}, th("branch"), th("caller"), th("status"), th("priority"), th("waited", "num")),
          ...calls.map((c) =>
            el(
              "tr",
              {},
              el("td", {}, c.branch),
              el("td", {}, c.caller),
              el("td", {}, word("call", c.status)),
              el("td", {}, word("priority", String(c.priority)) || number(c.priority)),
              el("td", { class: "num" }, duration(c.waited_s)),
            ),
          ),
        )
      : el("p", { class: "muted" }, t("none_waiting")),
  );
}

function stat(label, value) {
  return el("div", { class: "figure" }, el("small", { class: "muted" }, label), el("div", { class: "big" }, value));
}

// Each of the three forms asks the API once and draws the answer, or shows why it was refused.
function wireForm(id, ask, draw) {
  let answer = null;
  const redraw = () => answer && $(`${id}-result`).replaceChildren(...draw(answer));
  $(`${id}-form`).addEventListener("submit", async (event) => {
    event.preventDefault();
    $(`${id}-error`).textContent = "";
    try {
      answer = await ask();
      redraw();
    } catch (err) {
      $(`${id}-error`).textContent = err.message;
    }
  });
  onLanguageChange(redraw);
}

wireForm(
  "kpi",
  () => {
    const q = new URLSearchParams({
      from: new Date($("kpi-from").value).toISOString(),
      to: new Date($("kpi-to").value).toISOString(),
    });
    return api("GET", `/api/v1/branches/${$("kpi-branch").value}/kpis?${q}`);
  },
  (k) => [
    stat(t("offered_calls"), number(k.offered)),
    stat(t("answered"), number(k.answered)),
    stat(t("abandoned"), number(k.abandoned)),
    stat(t("asa"), seconds(k.average_speed_of_answer_s)),
    stat(t("service_level_within", { s: number(k.sl_threshold_s) }), percent(k.service_level)),
    stat(t("abandonment_rate"), percent(k.abandonment_rate)),
    stat(t("occupancy"), percent(k.occupancy)),
    stat(t("doctors_online"), number(k.doctors_online)),
  ],
);

wireForm(
  "staffing",
  () => {
    const q = new URLSearchParams({
      calls_per_hour: $("st-calls").value,
      aht_s: $("st-aht").value,
      target: $("st-target").value,
      threshold_s: $("st-threshold").value,
    });
    return api("GET", `/api/v1/branches/${$("st-branch").value}/staffing?${q}`);
  },
  (s) => [
    stat(t("doctors_needed"), number(s.doctors_needed)),
    stat(t("predicted_sl"), percent(s.service_level)),
    stat(t("asa"), seconds(s.asa_s)),
    stat(t("occupancy"), percent(s.occupancy)),
  ],
);

wireForm(
  "coverage",
  () => {
    const q = new URLSearchParams({ date: $("cov-date").value });
    if ($("cov-calls").value) q.set("calls_per_hour", $("cov-calls").value);
    return api("GET", `/api/v1/branches/${$("cov-branch").value}/coverage?${q}`);
  },
  (c) => [
    el("p", {}, t("short_hours_n", { n: number(c.short_hours) })),
    el(
      "table",
      {},
      el("tr", {}, th("hour"), th("forecast", "num"), th("needed", "num"), th("booked", "num"), th("gap", "num"), th("doctors")),
      ...c.hours.map((h) =>
        el(
          "tr",
          { class: h.short ? "short" : "" },
          el("td", {}, `${String(h.hour).padStart(2, "0")}:00`),
          el("td", { class: "num" }, number(h.forecast_calls_per_hour, 2, 0)),
          el("td", { class: "num" }, number(h.needed)),
          el("td", { class: "num" }, number(h.booked, 2, 0)),
          el("td", { class: "num gap" }, h.gap ? number(h.gap, 2, 0) : ""),
          el("td", {}, h.doctors.join(", ")),
        ),
      ),
    ),
  ],
);

onLanguageChange(() => {
  if (!overview) return;
  fillBranchSelects();
  renderOverview();
});
openPage({ app: "board", refusal: "not_a_supervisor", start });
