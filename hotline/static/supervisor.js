// The supervisor's first board: live branches, doctors, waiting calls, KPIs, staffing and coverage.
"use strict";

const POLL_MS = 2000;
const TOKEN_KEY = "hotline.supervisor.token";
let token = sessionStorage.getItem(TOKEN_KEY);
let overview = null;
let pollTimer = null;
const $ = (id) => document.getElementById(id);

async function signIn(event) {
  const signedIn = await signInFromForm(event, TOKEN_KEY);
  if (signedIn) {
    token = signedIn;
    await start();
  }
}

async function start() {
  try {
    overview = await api("GET", "/api/v1/supervisor/overview", undefined, token);
  } catch (err) {
    sessionStorage.removeItem(TOKEN_KEY);
    $("signin-error").textContent = err.status === 403 ? t("not_a_supervisor") : "";
    return;
  }
  $("signin-view").classList.add("hidden");
  $("board").classList.remove("hidden");
  document.querySelectorAll(".branch-select").forEach((s) => {
    s.replaceChildren(...overview.branches.map((b) => el("option", { value: b.digit }, `${b.digit} — ${b.name}`)));
  });
  const now = new Date();
  const local = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  $("kpi-from").value = local(new Date(now.getTime() - 86400000));
  $("kpi-to").value = local(now);
  $("cov-date").value = local(now).slice(0, 10);
  renderOverview();
  pollTimer = setInterval(poll, POLL_MS);
}

async function poll() {
  try {
    overview = await api("GET", "/api/v1/supervisor/overview", undefined, token);
    renderOverview();
  } catch (err) {
    $("updated").textContent = `${t("error")}: ${errorText(err)}`;
  }
}

function branchName(b) {
  return LANG === "vi" && b.name_vi ? b.name_vi : b.name;
}

function renderOverview() {
  if (!overview) return;
  $("updated").textContent = new Date(overview.at).toLocaleTimeString();
  $("live-branches").replaceChildren(
    ...overview.branches.map((b) =>
      el("div", { class: `figure${b.waiting ? " hot" : ""}` },
        el("div", { class: "muted" }, `${t("branch")} ${b.digit} — ${branchName(b)}`),
        el("div", { class: "row" },
          el("div", {}, el("div", { class: "big" }, b.waiting), el("small", {}, t("waiting"))),
          el("div", {}, el("div", { class: "big" }, fmtDuration(b.longest_wait_s)), el("small", {}, t("longest_wait")))),
        el("small", { class: "muted" }, `${t("doctors_available")}: ${b.available} / ${t("doctors_online")}: ${b.online}`))),
  );
  $("doctor-table").replaceChildren(
    el("tr", {}, el("th", {}, t("doctor")), el("th", {}, t("branch")), el("th", {}, t("status"))),
    ...overview.doctors.map((d) =>
      el("tr", {}, el("td", {}, d.full_name, el("div", { class: "muted" }, d.organisation)),
        el("td", {}, Object.keys(d.branches).join(", ")),
        el("td", {}, el("span", { class: `state-pill state-${d.state}` }, t(d.state))))),
  );
  const calls = overview.branches.flatMap((b) => b.calls.map((c) => ({ ...c, branch: b.digit })));
  calls.sort((a, b) => b.waited_s - a.waited_s);
  $("waiting-calls").replaceChildren(
    calls.length
      ? el("table", {},
          el("tr", {}, el("th", {}, t("branch")), el("th", {}, t("caller")), el("th", {}, t("status")),
            el("th", {}, t("priority")), el("th", { class: "num" }, t("waited"))),
          ...calls.map((c) => el("tr", {}, el("td", {}, c.branch), el("td", {}, c.caller), el("td", {}, c.status),
            el("td", {}, c.priority_reason || c.priority), el("td", { class: "num" }, fmtDuration(c.waited_s)))))
      : el("p", { class: "muted" }, t("none_waiting")),
  );
}

function stat(label, value) {
  return el("div", { class: "figure" }, el("small", { class: "muted" }, label), el("div", { class: "big" }, value));
}

async function showKpis(event) {
  event.preventDefault();
  $("kpi-error").textContent = "";
  const q = new URLSearchParams({
    from: new Date($("kpi-from").value).toISOString(),
    to: new Date($("kpi-to").value).toISOString(),
  });
  try {
    const k = await api("GET", `/api/v1/branches/${$("kpi-branch").value}/kpis?${q}`, undefined, token);
    $("kpi-result").replaceChildren(
      stat(t("offered_calls"), k.offered), stat(t("answered"), k.answered), stat(t("abandoned"), k.abandoned),
      stat(t("asa"), k.average_speed_of_answer_s === null ? "—" : `${k.average_speed_of_answer_s.toFixed(1)} s`),
      stat(`${t("service_level")} (${k.sl_threshold_s} s)`, pct(k.service_level)),
      stat(t("abandonment_rate"), pct(k.abandonment_rate)), stat(t("occupancy"), pct(k.occupancy)),
      stat(t("doctors_online"), k.doctors_online),
    );
  } catch (err) {
    $("kpi-error").textContent = errorText(err);
  }
}

async function showStaffing(event) {
  event.preventDefault();
  $("staffing-error").textContent = "";
  const q = new URLSearchParams({
    calls_per_hour: $("st-calls").value, aht_s: $("st-aht").value,
    target: $("st-target").value, threshold_s: $("st-threshold").value,
  });
  try {
    const s = await api("GET", `/api/v1/branches/${$("st-branch").value}/staffing?${q}`, undefined, token);
    $("staffing-result").replaceChildren(
      stat(t("doctors_needed"), s.doctors_needed), stat(t("predicted_sl"), pct(s.service_level)),
      stat(t("asa"), `${s.asa_s.toFixed(1)} s`), stat(t("occupancy"), pct(s.occupancy)),
    );
  } catch (err) {
    $("staffing-error").textContent = errorText(err);
  }
}

async function showCoverage(event) {
  event.preventDefault();
  $("coverage-error").textContent = "";
  const q = new URLSearchParams({ date: $("cov-date").value });
  if ($("cov-calls").value) q.set("calls_per_hour", $("cov-calls").value);
  try {
    const c = await api("GET", `/api/v1/branches/${$("cov-branch").value}/coverage?${q}`, undefined, token);
    $("coverage-result").replaceChildren(
      el("p", {}, `${c.short_hours} ${t("short_hours")}`),
      el("table", {},
        el("tr", {}, el("th", {}, t("hour")), el("th", { class: "num" }, t("forecast")), el("th", { class: "num" }, t("needed")),
          el("th", { class: "num" }, t("booked")), el("th", { class: "num" }, t("gap")), el("th", {}, t("doctors"))),
        ...c.hours.map((h) => el("tr", { class: h.short ? "short" : "" },
          el("td", {}, `${String(h.hour).padStart(2, "0")}:00`), el("td", { class: "num" }, h.forecast_calls_per_hour),
          el("td", { class: "num" }, h.needed), el("td", { class: "num" }, h.booked),
          el("td", { class: "num gap" }, h.gap || ""), el("td", {}, h.doctors.join(", "))))),
    );
  } catch (err) {
    $("coverage-error").textContent = errorText(err);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  applyI18n();
  $("signin-form").addEventListener("submit", signIn);
  $("lang-toggle").addEventListener("click", () => toggleLang(renderOverview));
  $("sign-out").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    clearInterval(pollTimer);
    location.reload();
  });
  $("kpi-form").addEventListener("submit", showKpis);
  $("staffing-form").addEventListener("submit", showStaffing);
  $("coverage-form").addEventListener("submit", showCoverage);
  if (token) start();
});
