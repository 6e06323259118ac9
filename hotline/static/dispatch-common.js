// Sign-in, API calls and small formatting helpers shared by the dispatch board and the hospital page.
"use strict";

const Dispatch = (() => {
  const TOKEN_KEY = "hotline1022.token";
  let token = sessionStorage.getItem(TOKEN_KEY);

  async function api(method, path, body) {
    const headers = {};
    let payload;
    if (body instanceof URLSearchParams) {
      payload = body;
    } else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
    if (token) headers.Authorization = `Bearer ${token}`;
    const res = await fetch(path, { method, headers, body: payload });
    const data = res.status === 204 ? null : await res.json().catch(() => null);
    if (res.status === 401 && path !== "/api/v1/auth/token") {
      signOut();
    }
    if (!res.ok) {
      const err = new Error(describe(data) || `HTTP ${res.status}`);
      err.status = res.status;
      throw err;
    }
    return data;
  }

  function describe(data) {
    if (!data) return "";
    const d = data.detail;
    if (Array.isArray(d)) return d.map((p) => `${p.field}: ${p.rule}`).join("; ");
    return typeof d === "string" ? d : data.error || "";
  }

  async function signIn(username, password) {
    const form = new URLSearchParams({ username, password });
    const out = await api("POST", "/api/v1/auth/token", form);
    token = out.access_token;
    sessionStorage.setItem(TOKEN_KEY, token);
    return out;
  }

  function signOut() {
    token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    location.reload();
  }

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (v !== undefined && v !== null) node.setAttribute(k, v);
    }
    for (const c of children.flat()) {
      if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
    }
    return node;
  }

  function countdown(iso) {
    if (!iso) return null;
    const s = Math.max(0, Math.round((new Date(iso) - Date.now()) / 1000));
    const text = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
    return el("span", { class: "countdown" + (s < 120 ? " low" : ""), "data-expires": iso }, text);
  }

  function time(iso) {
    return iso ? new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : "";
  }

  function toast(msg) {
    const t = document.getElementById("toast");
    if (!t) return;
    t.textContent = msg;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => (t.textContent = ""), 4000);
  }

  function wireSignIn(onReady) {
    const form = document.getElementById("signin-form");
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const error = document.getElementById("signin-error");
      error.textContent = "";
      try {
        await signIn(form.username.value, form.password.value);
        await onReady();
      } catch (err) {
        error.textContent = err.message;
      }
    });
    document.getElementById("sign-out").addEventListener("click", signOut);
    if (token) onReady().catch(() => signOut());
  }

  return { api, el, countdown, time, toast, wireSignIn, signOut, hasToken: () => !!token };
})();
