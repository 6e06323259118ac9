// The one toolkit every page imports: translations, the DOM builder, formatting, the API client,
// sign-in and sign-out, and a small store through which parts of a page share what they show.
import { en, vi } from "./translations.js";

// ------------------------------------------------------------------ translations

const DICTIONARIES = { vi, en };
const LOCALES = { vi: "vi-VN", en: "en-GB" };
const LANGUAGE_KEY = "hotline.lang";
const languageListeners = [];
const reported = new Set();
let language = DICTIONARIES[localStorage.getItem(LANGUAGE_KEY)] ? localStorage.getItem(LANGUAGE_KEY) : "vi";

function fill(text, params) {
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

/**
 * The text for key in the page's language, its {name} slots filled from params. A "kind.code" key
 * words a code the API sends; without an entry the code itself shows, as the codes are English.
 */
export function t(key, params) {
  let text = DICTIONARIES[language][key] ?? DICTIONARIES.en[key];
  if (text === undefined && key.includes(".")) text = key.slice(key.indexOf(".") + 1);
  if (text === undefined) {
    if (!reported.has(key)) console.warn(`no translation for "${key}"`);
    reported.add(key);
    return key;
  }
  return fill(text, params);
}

/** A code the API sends (a status, a bed type, an urgency) as a word of the page's language. */
export function word(kind, code) {
  return code === null || code === undefined || code === "" ? "" : t(`${kind}.${code}`);
}

/** Text, placeholders and accessible names of every element on the page that asks for them. */
function translate() {
  document.documentElement.lang = language;
  const marked = (attribute) => document.querySelectorAll(`[${attribute}]`);
  for (const node of marked("data-i18n")) node.textContent = t(node.dataset.i18n);
  for (const node of marked("data-i18n-placeholder")) node.placeholder = t(node.dataset.i18nPlaceholder);
  for (const node of marked("data-i18n-label")) node.setAttribute("aria-label", t(node.dataset.i18nLabel));
}

/** Run redraw whenever the language changes (after the marked elements are translated). */
export function onLanguageChange(redraw) {
  languageListeners.push(redraw);
}

function switchLanguage() {
  language = language === "vi" ? "en" : "vi";
  localStorage.setItem(LANGUAGE_KEY, language);
  translate();
  for (const redraw of languageListeners) redraw();
}

// ------------------------------------------------------------------ DOM

function build(node, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** el("td", { class: "num", onclick: fn }, child, ...): false, null and undefined are left out. */
export function el(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** The same for SVG drawings. */
export function svg(tag, attrs, ...children) {
  return build(document.createElementNS("http://www.w3.org/2000/svg", tag), attrs, children);
}

/** An element marked for translation, so a language switch redraws it without its page's help. */
export function label(tag, key, attrs = {}) {
  return el(tag, { ...attrs, "data-i18n": key }, t(key));
}

export const $ = (id) => document.getElementById(id);

export function show(node, visible) {
  node.classList.toggle("hidden", !visible);
}

// ------------------------------------------------------------------ formatting

function locale() {
  return LOCALES[language];
}

/** Every number on the pages, in the language's notation: up to digits decimals, at least least. */
export function number(value, digits = 0, least = digits) {
  if (value === null || value === undefined || Number.isNaN(Number(value))) return "—";
  const style = { minimumFractionDigits: least, maximumFractionDigits: digits };
  return new Intl.NumberFormat(locale(), style).format(Number(value));
}

export function percent(share, digits = 1) {
  return share === null || share === undefined ? "—" : `${number(share * 100, digits)}%`;
}

export function seconds(value, digits = 1) {
  return value === null || value === undefined ? "—" : t("seconds_n", { n: number(value, digits) });
}

/** A span of time as m:ss, or h:mm:ss from an hour. */
export function duration(totalSeconds) {
  if (totalSeconds === null || totalSeconds === undefined) return "—";
  const s = Math.max(0, Math.floor(totalSeconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** A waiting time in whole minutes, or hours and minutes from an hour. */
export function minutes(totalMinutes) {
  const m = Math.max(0, Math.round(totalMinutes));
  if (m < 60) return t("minutes_n", { n: number(m) });
  return t("hours_minutes", { h: number(Math.floor(m / 60)), m: number(m % 60) });
}

export function dateTime(iso) {
  if (!iso) return "";
  return new Date(iso).toLocaleString(locale(), { dateStyle: "short", timeStyle: "short" });
}

export function clock(iso, withSeconds = false) {
  if (!iso) return "";
  const parts = { hour: "2-digit", minute: "2-digit", ...(withSeconds ? { second: "2-digit" } : {}) };
  return new Date(iso).toLocaleTimeString(locale(), parts);
}

export function dayMonth(iso) {
  return new Date(iso).toLocaleDateString(locale(), { day: "numeric", month: "numeric" });
}

/** A branch's name in the page's language. */
export function branchName(branch) {
  return language === "vi" && branch.name_vi ? branch.name_vi : branch.name;
}

/** "3 — Name", or the bare digit while the branch's name is not known. */
export function branchLabel(digit, branch) {
  return branch ? `${digit} — ${branchName(branch)}` : String(digit);
}

// ------------------------------------------------------------------ the API

const TOKEN_KEY = "hotline.token";
const TOKEN_PATH = "/api/v1/auth/token";

/** A refused request; message is what a person can read, status and code what a page decides on. */
export class ApiError extends Error {
  constructor(status, body) {
    super(describe(status, body));
    this.status = status;
    this.code = body && body.error;
  }
}

// The API answers {"error": code, "detail": text or [{field, rule}]}; the dictionary words a code.
// The detail is the server's English: a field it names is worded from the dictionary, and its
// rule text shows only on the English page; an unworded code becomes the plain HTTP failure.
function describe(status, body) {
  const key = body && body.error ? `error.${body.error}` : null;
  if (key && (key in DICTIONARIES[language] || key in DICTIONARIES.en)) return t(key);
  const detail = body && body.detail;
  if (Array.isArray(detail) && detail.length) {
    const fields = detail.map((p) => {
      const name = fieldName(p.field);
      return language === "en" && p.rule ? `${name} (${p.rule})` : name;
    });
    return t("invalid_fields", { fields: [...new Set(fields)].join("; ") });
  }
  if (language === "en" && typeof detail === "string" && detail) return detail;
  return t("request_failed", { status });
}

// "vitals.spo2" -> the word the page's forms use for it, else "a field": never the raw name.
function fieldName(path) {
  const last = String(path || "").split(".").pop();
  for (const kind of ["vital", "news2part", "input"]) {
    const key = `${kind}.${last}`;
    if (key in DICTIONARIES[language]) return t(key);
  }
  for (const key of [`tp_${last}`, last]) {
    if (key in DICTIONARIES[language]) return t(key);
  }
  return t("some_field");
}

/**
 * A rules version as people read it: "news2-rcp-2017/r2+moh-261-2022/r1+policy:default/r1"
 * becomes "NEWS2 (RCP 2017), revision 2 · Decision 261/QĐ-BYT (2022), revision 1 · ...".
 * The raw version goes in the element's title, for whoever needs to trace it.
 */
export function rulesText(version) {
  if (!version) return "";
  return String(version)
    .split("+")
    .map((part) => {
      const m = /^(.*)\/r(\d+)$/.exec(part);
      const id = m ? m[1] : part;
      const key = `rules.${id}`;
      const name = key in DICTIONARIES[language] || key in DICTIONARIES.en ? t(key) : t("rules_other");
      return m ? t("rules_part", { name, n: number(Number(m[2])) }) : name;
    })
    .join(" · ");
}

/** rulesText in a span whose title (a tooltip) is the raw version. */
export function rulesLabel(version, attrs = {}) {
  return el("span", { ...attrs, class: `rules ${attrs.class || ""}`.trim(), title: version }, rulesText(version));
}

async function send(method, path, body) {
  const headers = {};
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  let payload;
  if (body instanceof URLSearchParams) {
    payload = body;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, { method, headers, body: payload });
  } catch (_) {
    // The browser's own message ("Failed to fetch") is English whatever the page's language.
    throw new ApiError(0, { error: "network" });
  }
  if (res.ok) return res;
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch (_) {
    data = null;
  }
  // A token that stopped working (expired, account disabled): back to the sign-in form.
  if (res.status === 401 && token) signOut();
  throw new ApiError(res.status, data);
}

/** Call the API with the signed-in token; resolves to the JSON answer, throws ApiError. */
export async function api(method, path, body) {
  const res = await send(method, path, body);
  const text = await res.text();
  return text ? JSON.parse(text) : null;
}

/** A file from the API (an export), as a Blob. */
export async function apiFile(path) {
  return (await send("GET", path)).blob();
}

export function signedIn() {
  return sessionStorage.getItem(TOKEN_KEY) !== null;
}

/**
 * A websocket's address with a single-use 30 s ticket (a websocket cannot send a header, and
 * a token in a URL would land in access logs). On failure the ticket is empty: the server
 * refuses, and the page's usual reconnect back-off runs.
 */
export async function socketUrl(path) {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  let ticket = "";
  try {
    ticket = (await api("POST", "/api/v1/ws-tickets")).ticket;
  } catch (_) { /* refused below, retried by the caller's back-off */ }
  return `${proto}://${location.host}${path}?ticket=${encodeURIComponent(ticket)}`;
}

export function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  location.reload();
}

// ------------------------------------------------------------------ sign-in

function signInForm(titleKey) {
  const field = (name, input) => el("div", { class: "field" }, label("label", name, { for: name }), input);
  return [
    label("h1", titleKey),
    el(
      "form",
      { id: "signin-form" },
      field("username", el("input", { id: "username", name: "username", autocomplete: "username", required: true })),
      field(
        "password",
        el("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true }),
      ),
      el("p", { id: "signin-error", class: "error", role: "alert" }),
      label("button", "sign_in", { id: "signin-button", class: "primary", type: "submit" }),
      label("button", "switch_language", { type: "button", "data-lang-switch": true }),
    ),
  ];
}

/**
 * Start a page: draw the sign-in form into #signin-view and the language switch and sign-out
 * buttons into the top bar, translate, and once an account is signed in run start(). start()
 * proves the account may use the page (a 403 shows the refusal text) and draws it; then
 * #signin-view hides and the element with id app shows.
 */
export function openPage({ app, refusal, start }) {
  const view = $("signin-view");
  view.replaceChildren(...signInForm(view.dataset.title));
  document.querySelector(".topbar").append(
    label("button", "switch_language", { id: "lang-toggle", class: "link", type: "button", "data-lang-switch": true }),
    label("button", "sign_out", { id: "sign-out", class: "link", type: "button", onclick: signOut }),
  );
  translate();
  for (const button of document.querySelectorAll("[data-lang-switch]")) button.addEventListener("click", switchLanguage);
  const error = $("signin-error");

  async function enter() {
    try {
      await start();
    } catch (err) {
      sessionStorage.removeItem(TOKEN_KEY);
      error.textContent = err.status === 403 ? t(refusal) : err.status === 401 ? "" : err.message;
      return;
    }
    show(view, false);
    show($(app), true);
  }

  $("signin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    sessionStorage.removeItem(TOKEN_KEY);
    const form = new URLSearchParams({ username: $("username").value, password: $("password").value });
    try {
      sessionStorage.setItem(TOKEN_KEY, (await api("POST", TOKEN_PATH, form)).access_token);
    } catch (err) {
      error.textContent = err.message;
      return;
    }
    await enter();
  });
  if (signedIn()) enter();
}

// ------------------------------------------------------------------ sharing within a page

const topics = new Map();

/** Tell the page's other parts what topic is now (e.g. the console's "call"). */
export function publish(topic, value) {
  const entry = topics.get(topic) || { value: undefined, listeners: [] };
  entry.value = value;
  topics.set(topic, entry);
  for (const listener of entry.listeners) listener(value);
}

/** Follow a topic: the listener hears the current value at once, if there is one, and every change. */
export function follow(topic, listener) {
  const entry = topics.get(topic) || { value: undefined, listeners: [] };
  entry.listeners.push(listener);
  topics.set(topic, entry);
  if (entry.value !== undefined) listener(entry.value);
}

// ------------------------------------------------------------------ small shared widgets

/** The time left until iso as m:ss; tickCountdowns() keeps every one on the page current. */
export function countdown(iso) {
  const left = Math.max(0, Math.round((new Date(iso) - Date.now()) / 1000));
  return el("span", { class: `countdown${left < 120 ? " low" : ""}`, "data-expires": iso }, duration(left));
}

export function tickCountdowns() {
  for (const node of document.querySelectorAll("[data-expires]")) node.replaceWith(countdown(node.dataset.expires));
}

/** A vocabulary word in a coloured pill: pill("urgency", "urgent", "u") is styled by .u-urgent. */
export function pill(kind, code, prefix) {
  return el("span", { class: `pill ${prefix}-${code}` }, word(kind, code));
}

/** A short notice in the page's #toast that fades after a few seconds. */
export function toast(text) {
  const box = $("toast");
  box.textContent = text;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (box.textContent = ""), 4000);
}

// ------------------------------------------------------------------ pieces of the call-centre pages

/** A branch's live queue card, as the console and the supervisor view show it. */
export function branchFigure(digit, branch, figures) {
  return el(
    "div",
    { class: `figure${figures.waiting > 0 ? " hot" : ""}`, "data-branch": digit },
    el("div", { class: "muted" }, `${t("branch")} ${branchLabel(digit, branch)}`),
    el(
      "div",
      { class: "row" },
      el("div", {}, el("div", { class: "big" }, number(figures.waiting)), el("small", {}, t("waiting"))),
      el("div", {}, el("div", { class: "big" }, duration(figures.longest_wait_s)), el("small", {}, t("longest_wait"))),
    ),
    el("small", { class: "muted" }, t("doctors_line", { available: number(figures.available), online: number(figures.online) })),
  );
}
