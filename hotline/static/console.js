// The doctor console: sign in, presence, live branch figures, offers with a ring, the call, wrap-up.
import { $, api, branchFigure, branchLabel, dateTime, duration, el, onLanguageChange, openPage, publish, show,
  signOut, socketUrl, t, word } from "./toolkit.js";

const HEARTBEAT_MS = 3000;
const CALL_POLL_MS = 3000;
const MAX_BACKOFF_MS = 10000;

const S = {
  doctor: null,
  presence: "offline",
  offer: null, // {offer_id, call_id, branch, caller, expiresAt}
  call: null, // CallOut
  callEnded: false,
  wrapupEndsAt: null,
  wrapupS: 20,
  figures: {},
  branches: {},
  ws: null,
  retries: 0,
  signedIn: false,
  historyFor: null,
};

// ------------------------------------------------------------------ start

async function start() {
  const state = await api("GET", "/api/v1/doctors/me");
  S.signedIn = true;
  applyHello(state);
  try {
    for (const b of await api("GET", "/api/v1/branches")) S.branches[b.digit] = b;
    S.wrapupS = (await api("GET", "/api/v1/doctors/me/timers")).wrapup_s;
  } catch (err) {
    showError(err);
  }
  fillShiftBranches();
  loadShifts();
  connect();
}

// ------------------------------------------------------------------ live channel

async function connect() {
  if (!S.signedIn) return;
  const ws = new WebSocket(await socketUrl("/ws/console"));
  S.ws = ws;
  ws.onopen = () => {
    S.retries = 0;
    show($("connection-banner"), false);
  };
  ws.onmessage = (ev) => onMessage(JSON.parse(ev.data));
  ws.onclose = () => {
    if (S.ws !== ws || !S.signedIn) return;
    show($("connection-banner"), true);
    // Exponential back-off with jitter, so a restarted server is not stormed.
    const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** S.retries) * (0.75 + Math.random() * 0.5);
    S.retries += 1;
    setTimeout(async () => {
      if (S.retries >= 4 && !(await tokenStillValid())) return signOut();
      connect();
    }, delay);
  };
}

async function tokenStillValid() {
  try {
    await api("GET", "/api/v1/doctors/me");
    return true;
  } catch (err) {
    return err.status !== 401 && err.status !== 403;
  }
}

function onMessage(msg) {
  switch (msg.type) {
    case "hello":
      applyHello(msg);
      break;
    case "offer":
      S.offer = {
        offer_id: msg.offer_id,
        call_id: msg.call_id,
        branch: msg.branch,
        caller: msg.caller,
        expiresAt: Date.now() + msg.expires_in_s * 1000,
      };
      S.presence = "offered";
      render();
      break;
    case "offer_withdrawn":
      if (S.offer && S.offer.offer_id === msg.offer_id) {
        S.offer = null;
        flash(t("offer_withdrawn"));
        render();
      }
      break;
    case "presence":
      setPresence(msg.state);
      break;
    case "queue":
      S.figures = msg.branches;
      renderFigures();
      break;
    default:
      break;
  }
}

// The hello message (and GET /doctors/me) restore everything after a reconnect.
function applyHello(state) {
  S.doctor = state.doctor;
  $("doctor-name").textContent = state.doctor.full_name;
  S.offer = state.offer ? { ...state.offer, expiresAt: Date.now() + state.offer.expires_in_s * 1000 } : null;
  if (state.call) {
    if (!S.call || S.call.id !== state.call.id) S.callEnded = false;
    S.call = state.call;
  } else {
    S.call = null;
  }
  setPresence(state.state);
}

function setPresence(state) {
  const was = S.presence;
  S.presence = state;
  if (state === "wrap_up" && (was !== "wrap_up" || !S.wrapupEndsAt)) {
    S.wrapupEndsAt = Date.now() + S.wrapupS * 1000;
    refreshWrapupRemaining();
  }
  if (state !== "wrap_up") S.wrapupEndsAt = null;
  // Offers end by offer_withdrawn, accept or expiry, never by a presence message: one
  // routing decision pushes a new offer before the presence change that came with it.
  render();
}

async function refreshWrapupRemaining() {
  try {
    const timers = await api("GET", "/api/v1/doctors/me/timers");
    if (timers.wrapup_remaining_s !== null && S.presence === "wrap_up") {
      S.wrapupEndsAt = Date.now() + timers.wrapup_remaining_s * 1000;
    }
  } catch (_) {
    /* the local estimate stands */
  }
}

setInterval(() => {
  if (S.ws && S.ws.readyState === WebSocket.OPEN) S.ws.send(JSON.stringify({ type: "heartbeat" }));
}, HEARTBEAT_MS);

// ------------------------------------------------------------------ actions

async function changePresence(state) {
  try {
    setPresence((await api("PUT", "/api/v1/doctors/me/presence", { state })).state);
  } catch (err) {
    showError(err);
  }
}

async function acceptOffer() {
  if (!S.offer) return;
  const offer = S.offer;
  $("accept-offer").disabled = true;
  try {
    S.call = await api("POST", `/api/v1/offers/${offer.offer_id}/accept`);
    S.callEnded = false;
    S.offer = null;
    S.presence = "on_call";
  } catch (err) {
    S.offer = null;
    if (err.status === 409) flash(t("offer_withdrawn"));
    else showError(err);
  } finally {
    $("accept-offer").disabled = false;
  }
  render();
}

async function declineOffer() {
  if (!S.offer) return;
  const offer = S.offer;
  S.offer = null;
  render();
  try {
    await api("POST", `/api/v1/offers/${offer.offer_id}/decline`);
  } catch (err) {
    if (err.status !== 409) showError(err);
  }
}

async function completeCall(event) {
  event.preventDefault();
  if (!S.call) return;
  const disposition = $("disposition").value;
  if (!disposition) {
    $("disposition").focus();
    return;
  }
  $("complete-call").disabled = true;
  try {
    await api("POST", `/api/v1/calls/${S.call.id}/complete`, { disposition, notes: $("notes").value });
    S.call = null;
    $("complete-form").reset();
    setPresence("wrap_up");
  } catch (err) {
    showError(err);
  } finally {
    $("complete-call").disabled = false;
  }
}

// The caller may hang up mid-call; the console learns it from the call's status.
setInterval(async () => {
  if (!S.call || S.callEnded || !S.signedIn) return;
  try {
    const call = await api("GET", `/api/v1/calls/${S.call.id}`);
    if (S.call && call.id === S.call.id) {
      S.call = call;
      S.callEnded = call.status !== "connected";
      render();
    }
  } catch (_) {
    /* a blip: try again next tick */
  }
}, CALL_POLL_MS);

// ------------------------------------------------------------------ ring

let audio = null;
let ringTimer = null;

function unlockAudio() {
  try {
    audio = audio || new (window.AudioContext || window.webkitAudioContext)();
    if (audio.state === "suspended") audio.resume();
  } catch (_) {
    audio = null;
  }
}

function beep(at, freq) {
  const osc = audio.createOscillator();
  const gain = audio.createGain();
  osc.frequency.value = freq;
  gain.gain.setValueAtTime(0.0001, at);
  gain.gain.exponentialRampToValueAtTime(0.3, at + 0.02);
  gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.35);
  osc.connect(gain).connect(audio.destination);
  osc.start(at);
  osc.stop(at + 0.4);
}

function ring() {
  if (ringTimer) return;
  const once = () => {
    if (!audio) return;
    const now = audio.currentTime;
    beep(now, 880);
    beep(now + 0.45, 660);
  };
  once();
  ringTimer = setInterval(once, 1500);
}

function stopRing() {
  clearInterval(ringTimer);
  ringTimer = null;
}

// ------------------------------------------------------------------ rendering

const IDLE_HINTS = { available: "idle_hint_available", away: "idle_hint_away" };

function render() {
  if (!S.signedIn) return;
  const shown = S.offer && !S.call ? "offered" : S.presence;
  const pill = $("presence-state");
  pill.className = `state-pill state-${shown}`;
  pill.dataset.state = shown;
  pill.textContent = word("presence", shown);
  document.querySelectorAll("[data-presence]").forEach((b) => {
    b.classList.toggle("current", b.dataset.presence === S.presence);
    b.disabled = S.presence === "on_call" || !!S.call;
  });

  const onCall = !!S.call;
  const offering = !onCall && !!S.offer;
  const wrapping = !onCall && !offering && S.presence === "wrap_up";
  show($("call-panel"), onCall);
  show($("offer-panel"), offering);
  show($("wrapup-panel"), wrapping);
  show($("idle-panel"), !onCall && !offering && !wrapping);
  document.body.dataset.view = onCall ? "call" : offering ? "offer" : wrapping ? "wrapup" : "idle";

  if (offering) {
    $("offer-caller").textContent = S.offer.caller;
    $("offer-branch").textContent = branchLabel(S.offer.branch, S.branches[S.offer.branch]);
    ring();
  } else {
    stopRing();
  }
  if (onCall) renderCall();
  $("idle-hint").textContent = t(IDLE_HINTS[S.presence] || "idle_hint_offline");
  tick();
}

function renderCall() {
  const c = S.call;
  $("call-caller").textContent = c.caller;
  $("call-branch").textContent = branchLabel(c.branch, S.branches[c.branch]);
  $("call-priority").textContent = word("priority", String(c.priority)) || t("priority_n", { n: c.priority });
  show($("call-ended"), S.callEnded || c.status !== "connected");
  const panel = $("patient-panel");
  if (panel.dataset.callId !== c.id) {
    panel.dataset.callId = c.id;
    panel.dataset.caller = c.caller;
    publish("call", c); // the triage panel fills #patient-panel for it
  }
  if (S.historyFor !== c.id) {
    S.historyFor = c.id;
    loadHistory(c.id);
  }
}

async function loadHistory(callId) {
  const box = $("history-list");
  box.replaceChildren();
  try {
    const res = await api("GET", `/api/v1/calls/${callId}/history`);
    if (!res.calls.length) {
      box.append(el("p", { class: "muted" }, t("no_past_calls")));
      return;
    }
    for (const h of res.calls) {
      const facts = [`${t("branch")} ${h.branch}`, word("call", h.status), word("disposition", h.disposition), h.doctor];
      box.append(
        el(
          "div",
          { class: "history-item" },
          el("strong", {}, dateTime(h.created_at)),
          facts.filter(Boolean).map((fact) => ` · ${fact}`).join(""),
          h.notes ? el("div", { class: "muted" }, h.notes) : null,
        ),
      );
    }
  } catch (err) {
    S.historyFor = null;
    box.append(el("p", { class: "error" }, err.message));
  }
}

function renderFigures() {
  const mine = S.doctor ? Object.keys(S.doctor.branches) : Object.keys(S.figures);
  $("branch-figures").replaceChildren(
    ...mine
      .sort()
      .filter((digit) => S.figures[digit])
      .map((digit) => branchFigure(digit, S.branches[digit], S.figures[digit])),
  );
}

// Countdowns and the call timer, four times a second.
function tick() {
  if (S.offer && Date.now() > S.offer.expiresAt + 2000) {
    S.offer = null; // expired unanswered; the server moves the call on
    render();
    return;
  }
  if (S.offer) {
    $("offer-countdown").textContent = Math.max(0, Math.ceil((S.offer.expiresAt - Date.now()) / 1000));
  }
  if (S.call && S.call.answered_at) {
    const end = S.call.ended_at ? Date.parse(S.call.ended_at) : Date.now();
    $("call-timer").textContent = duration((end - Date.parse(S.call.answered_at)) / 1000);
  }
  if (S.wrapupEndsAt) {
    $("wrapup-countdown").textContent = Math.max(0, Math.ceil((S.wrapupEndsAt - Date.now()) / 1000));
  }
}
setInterval(tick, 250);

function showError(err) {
  flash(err.message, 6000);
}

function flash(text, ms = 4000) {
  $("console-error").textContent = text;
  setTimeout(() => ($("console-error").textContent = ""), ms);
}

// ------------------------------------------------------------------ shifts

function fillShiftBranches() {
  $("shift-branch").replaceChildren(
    ...Object.keys(S.doctor.branches)
      .sort()
      .map((digit) => el("option", { value: digit }, branchLabel(digit, S.branches[digit]))),
  );
}

async function loadShifts() {
  const now = new Date();
  const until = new Date(now.getTime() + 14 * 86400000);
  const q = new URLSearchParams({ from: now.toISOString(), to: until.toISOString() });
  const box = $("shift-list");
  try {
    const rows = await api("GET", `/api/v1/shifts?${q}`);
    box.replaceChildren();
    if (!rows.length) box.append(el("p", { class: "muted" }, t("no_shifts")));
    for (const s of rows) {
      box.append(
        el(
          "div",
          { class: "history-item" },
          t("shift_line", { branch: s.branch, starts: dateTime(s.starts_at), ends: dateTime(s.ends_at) }),
          " ",
          el("button", { type: "button", onclick: () => cancelShift(s.id) }, t("cancel")),
        ),
      );
    }
  } catch (err) {
    $("shift-error").textContent = err.message;
  }
}

async function bookShift(event) {
  event.preventDefault();
  $("shift-error").textContent = "";
  try {
    await api("POST", "/api/v1/shifts", {
      branch: $("shift-branch").value,
      starts_at: new Date($("shift-start").value).toISOString(),
      ends_at: new Date($("shift-end").value).toISOString(),
    });
    loadShifts();
  } catch (err) {
    $("shift-error").textContent = err.message;
  }
}

async function cancelShift(id) {
  try {
    await api("DELETE", `/api/v1/shifts/${id}`);
  } catch (err) {
    $("shift-error").textContent = err.message;
  }
  loadShifts();
}

// ------------------------------------------------------------------ wiring

// Signing in is a user gesture: browsers only allow the ring's sound after one.
$("signin-view").addEventListener("submit", unlockAudio);
document.querySelectorAll("[data-presence]").forEach((b) =>
  b.addEventListener("click", () => changePresence(b.dataset.presence)),
);
$("accept-offer").addEventListener("click", acceptOffer);
$("decline-offer").addEventListener("click", declineOffer);
$("complete-form").addEventListener("submit", completeCall);
$("shift-form").addEventListener("submit", bookShift);
onLanguageChange(() => {
  render();
  renderFigures();
  if (S.call) loadHistory(S.call.id);
  if (S.doctor) {
    fillShiftBranches();
    loadShifts();
  }
});
openPage({ app: "console-view", refusal: "not_a_doctor", start });
