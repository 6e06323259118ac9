// Who a transfer's patient is, as the dispatch board and the hospital's incoming list show it:
// name, age, sex, phone, address, the latest NEWS2 (a lower bound when vitals were missing),
// SpO2, respiratory rate, the warning signs in words, severity and the referring doctor.
import { el, number, t, word } from "./toolkit.js";

export function age(years) {
  if (years == null) return "";
  if (years < 1) return t("card_age_months", { n: number(Math.round(years * 12)) });
  return t("card_age_years", { n: number(Math.floor(years)) });
}

export function address(a) {
  if (!a) return t("card_no_address");
  // A 2021 ward sits in a district; a 2025 ward or commune directly in its province.
  return [a.street, a.ward_name || (a.ward_code && t("card_ward_unknown")), a.district_name || a.province_name].filter(Boolean).join(", ");
}

function news2(n) {
  if (!n || n.total == null) return t("card_news2_none");
  return n.at_least ? t("card_news2_at_least", { n: number(n.total) }) : t("card_news2", { n: number(n.total) });
}

function vitals(p) {
  return [
    news2(p.news2),
    p.spo2 != null && t("card_spo2", { n: number(p.spo2) }),
    p.respiratory_rate != null && t("card_rr", { n: number(p.respiratory_rate) }),
    p.severity && word("severity", p.severity),
  ]
    .filter(Boolean)
    .join(" · ");
}

// The compact cell for a table row; a request typed on the board with a free reference has no
// card, and shows its reference.
export function patientCell(tr) {
  const p = tr.patient;
  if (!p) return el("span", { class: "card-ref" }, tr.patient_ref);
  const who = [age(p.age_years), p.sex && word("sex", p.sex), p.phones[0]].filter(Boolean).join(" · ");
  const signs = p.warning_signs.map((code) => word("sign", code)).join(", ");
  const doctor = p.referring_doctor;
  return el(
    "div",
    { class: "patient-card" },
    el("strong", { class: "card-name" }, p.full_name),
    el("div", { class: "card-who" }, who),
    el(
      "div",
      { class: "card-address muted" },
      address(p.address),
      tr.pickup && tr.pickup.source
        ? el("span", { class: `pickup pickup-${tr.pickup.source}` }, ` · ${t("card_pickup", { source: word("pickup", tr.pickup.source) })}`)
        : null,
    ),
    el("div", { class: "card-vitals" }, vitals(p)),
    signs ? el("div", { class: "card-signs" }, t("card_signs", { signs })) : null,
    doctor ? el("div", { class: "card-doctor muted" }, t("card_doctor", { name: doctor.display_name || doctor.username })) : null,
    // Only for a reader the timeline route lets in (the server decides, per patient).
    p.can_read_timeline
      ? el("a", { class: "card-timeline", href: `/static/timeline.html?patient=${encodeURIComponent(p.id)}` }, t("card_timeline"))
      : null,
  );
}
