// One patient's timeline, opened from a patient card: assessments, follow-ups and transfers in
// time order. The server decides who may read it (triage/care_team.py); a refusal says so.
import { $, api, dateTime, el, number, onLanguageChange, openPage, show, t, word } from "./toolkit.js";

const patientId = new URLSearchParams(location.search).get("patient") || "";
let data = null;

function news2(a) {
  const n = (a.scores && a.scores.news2) || {};
  if (n.total == null) return t("card_news2_none");
  return (n.missing || []).length ? t("card_news2_at_least", { n: number(n.total) }) : t("card_news2", { n: number(n.total) });
}

function assessmentLine(a) {
  return [
    news2(a),
    a.vitals && a.vitals.spo2 != null && t("card_spo2", { n: number(a.vitals.spo2) }),
    a.vitals && a.vitals.respiratory_rate != null && t("card_rr", { n: number(a.vitals.respiratory_rate) }),
    a.scores && a.scores.severity && word("severity", a.scores.severity),
  ]
    .filter(Boolean)
    .join(" · ");
}

function item(i) {
  const kind = { assessment: "tl_assessment", follow_up: "tl_follow_up", transfer: "tl_transfer" }[i.kind];
  const detail = i.kind === "assessment" ? assessmentLine(i) : i.kind === "transfer" ? word("bed", i.bed_type) : "";
  return el(
    "li",
    { class: `tl-item tl-${i.kind}` },
    el("time", { datetime: i.at }, dateTime(i.at)),
    " ",
    el("strong", {}, t(kind)),
    detail ? el("span", {}, ` · ${detail}`) : null,
  );
}

function render() {
  const items = data ? data.items : [];
  $("timeline").replaceChildren(...items.map(item));
  show($("tl-empty"), !items.length);
}

async function start() {
  const me = await api("GET", "/api/v1/auth/me");
  $("who").textContent = me.username;
  data = await api("GET", `/api/v1/triage/patients/${encodeURIComponent(patientId)}/timeline`);
  render();
}

onLanguageChange(render);
openPage({ app: "app", refusal: "tl_not_allowed", start });
