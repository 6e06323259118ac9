// Vietnamese and English labels for the console and supervisor pages; elements carry data-i18n keys.
"use strict";

const I18N = {
  vi: {
    app_title: "Tổng đài 1022",
    console_title: "Bàn làm việc bác sĩ",
    supervisor_title: "Giám sát tổng đài",
    username: "Tên đăng nhập",
    password: "Mật khẩu",
    sign_in: "Đăng nhập",
    sign_out: "Đăng xuất",
    signin_failed: "Sai tên đăng nhập hoặc mật khẩu",
    not_a_doctor: "Tài khoản này không phải bác sĩ",
    not_a_supervisor: "Tài khoản này không có quyền giám sát",
    presence: "Trạng thái",
    available: "Sẵn sàng",
    away: "Tạm vắng",
    offline: "Ngoại tuyến",
    offered: "Đang mời nhận cuộc gọi",
    on_call: "Đang nghe máy",
    wrap_up: "Hoàn tất hồ sơ",
    branch: "Nhánh",
    waiting: "Đang chờ",
    longest_wait: "Chờ lâu nhất",
    doctors_available: "BS sẵn sàng",
    doctors_online: "BS trực tuyến",
    idle_hint_available: "Đang chờ cuộc gọi… Cuộc gọi mới sẽ đổ chuông tại đây.",
    idle_hint_away: "Bạn đang tạm vắng: sẽ không nhận cuộc gọi.",
    idle_hint_offline: "Bạn đang ngoại tuyến. Bấm “Sẵn sàng” để bắt đầu ca trực.",
    incoming_call: "Cuộc gọi đến",
    accept: "Nhận cuộc gọi",
    decline: "Từ chối",
    seconds_left: "giây còn lại",
    offer_withdrawn: "Cuộc gọi đã được chuyển đi",
    caller: "Số gọi đến",
    call_timer: "Thời gian gọi",
    caller_hung_up: "Người gọi đã gác máy",
    patients: "Bệnh nhân",
    past_calls: "Các cuộc gọi trước từ số này",
    no_past_calls: "Chưa có cuộc gọi nào trước đây từ số này.",
    disposition: "Kết luận",
    notes: "Ghi chú",
    complete: "Kết thúc cuộc gọi",
    choose: "— Chọn —",
    d_home_care: "Tiếp tục theo dõi tại nhà",
    d_follow_up: "Hẹn gọi lại theo dõi",
    d_transfer: "Chuyển viện",
    d_advice_only: "Tư vấn",
    d_referred_other: "Chuyển cơ sở khác",
    d_no_medical_need: "Không cần can thiệp y tế",
    d_wrong_number: "Nhầm số",
    wrap_up_left: "Hoàn tất hồ sơ — cuộc gọi tiếp theo sau",
    connected: "Đã kết nối",
    reconnecting: "Mất kết nối — đang kết nối lại…",
    priority: "Ưu tiên",
    when: "Thời điểm",
    status: "Tình trạng",
    doctor: "Bác sĩ",
    error: "Lỗi",
    live: "Trực tiếp",
    doctors: "Bác sĩ",
    calls_waiting: "Cuộc gọi đang chờ",
    waited: "Đã chờ",
    since: "Từ lúc",
    kpis: "Chỉ số (KPI)",
    from: "Từ",
    to: "Đến",
    show: "Xem",
    offered_calls: "Cuộc gọi vào",
    answered: "Đã trả lời",
    abandoned: "Bỏ máy",
    asa: "Thời gian trả lời TB",
    service_level: "Mức phục vụ",
    abandonment_rate: "Tỷ lệ bỏ máy",
    occupancy: "Độ bận",
    staffing: "Tư vấn nhân lực (Erlang C)",
    calls_per_hour: "Cuộc gọi / giờ",
    aht_s: "Thời gian xử lý TB (giây)",
    target: "Mục tiêu mức phục vụ",
    threshold_s: "Trả lời trong (giây)",
    compute: "Tính",
    doctors_needed: "Số bác sĩ cần",
    predicted_sl: "Mức phục vụ dự kiến",
    coverage: "Độ phủ ca trực",
    date: "Ngày",
    hour: "Giờ",
    forecast: "Dự báo cuộc gọi/giờ",
    needed: "Cần",
    booked: "Đã đăng ký",
    gap: "Thiếu",
    short_hours: "giờ thiếu người",
    none_waiting: "Không có cuộc gọi nào đang chờ.",
    shifts: "Ca trực của tôi",
    book: "Đăng ký ca",
    cancel: "Huỷ",
    starts: "Bắt đầu",
    ends: "Kết thúc",
    no_shifts: "Chưa đăng ký ca nào.",
  },
  en: {
    app_title: "1022 hotline",
    console_title: "Doctor console",
    supervisor_title: "Call-centre supervision",
    username: "Username",
    password: "Password",
    sign_in: "Sign in",
    sign_out: "Sign out",
    signin_failed: "Wrong username or password",
    not_a_doctor: "This account is not a doctor",
    not_a_supervisor: "This account may not supervise",
    presence: "Presence",
    available: "Available",
    away: "Away",
    offline: "Offline",
    offered: "Call offered",
    on_call: "On a call",
    wrap_up: "Wrap-up",
    branch: "Branch",
    waiting: "Waiting",
    longest_wait: "Longest wait",
    doctors_available: "Doctors available",
    doctors_online: "Doctors online",
    idle_hint_available: "Waiting for a call… A new call will ring here.",
    idle_hint_away: "You are away: no calls will be offered.",
    idle_hint_offline: "You are offline. Press “Available” to start your shift.",
    incoming_call: "Incoming call",
    accept: "Accept",
    decline: "Decline",
    seconds_left: "seconds left",
    offer_withdrawn: "The call went to someone else",
    caller: "Caller",
    call_timer: "Call time",
    caller_hung_up: "The caller hung up",
    patients: "Patients",
    past_calls: "Earlier calls from this number",
    no_past_calls: "No earlier calls from this number.",
    disposition: "Disposition",
    notes: "Notes",
    complete: "Complete call",
    choose: "— Choose —",
    d_home_care: "Continue home care",
    d_follow_up: "Follow-up call",
    d_transfer: "Transfer to hospital",
    d_advice_only: "Advice only",
    d_referred_other: "Referred elsewhere",
    d_no_medical_need: "No medical need",
    d_wrong_number: "Wrong number",
    wrap_up_left: "Wrap-up — next call in",
    connected: "Connected",
    reconnecting: "Connection lost — reconnecting…",
    priority: "Priority",
    when: "When",
    status: "Status",
    doctor: "Doctor",
    error: "Error",
    live: "Live",
    doctors: "Doctors",
    calls_waiting: "Calls waiting",
    waited: "Waited",
    since: "Since",
    kpis: "KPIs",
    from: "From",
    to: "To",
    show: "Show",
    offered_calls: "Offered",
    answered: "Answered",
    abandoned: "Abandoned",
    asa: "Avg speed of answer",
    service_level: "Service level",
    abandonment_rate: "Abandonment rate",
    occupancy: "Occupancy",
    staffing: "Staffing advice (Erlang C)",
    calls_per_hour: "Calls per hour",
    aht_s: "Avg handle time (s)",
    target: "Service-level target",
    threshold_s: "Answered within (s)",
    compute: "Compute",
    doctors_needed: "Doctors needed",
    predicted_sl: "Predicted service level",
    coverage: "Shift coverage",
    date: "Date",
    hour: "Hour",
    forecast: "Forecast calls/h",
    needed: "Needed",
    booked: "Booked",
    gap: "Gap",
    short_hours: "hours short",
    none_waiting: "No calls waiting.",
    shifts: "My shifts",
    book: "Book shift",
    cancel: "Cancel",
    starts: "Starts",
    ends: "Ends",
    no_shifts: "No shifts booked.",
  },
};

let LANG = localStorage.getItem("hotline.lang") || "vi";

function t(key) {
  return (I18N[LANG] && I18N[LANG][key]) || I18N.en[key] || key;
}

function applyI18n(root) {
  document.documentElement.lang = LANG;
  (root || document).querySelectorAll("[data-i18n]").forEach((el) => {
    el.textContent = t(el.dataset.i18n);
  });
  (root || document).querySelectorAll("[data-i18n-placeholder]").forEach((el) => {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  });
  const toggle = document.getElementById("lang-toggle");
  if (toggle) toggle.textContent = LANG === "vi" ? "English" : "Tiếng Việt";
}

function toggleLang(after) {
  LANG = LANG === "vi" ? "en" : "vi";
  localStorage.setItem("hotline.lang", LANG);
  applyI18n();
  if (after) after();
}

// Shared helpers for both pages.
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function fmtDuration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

function fmtTime(iso) {
  if (!iso) return "";
  return new Date(iso).toLocaleString(LANG === "vi" ? "vi-VN" : "en-GB", {
    dateStyle: "short",
    timeStyle: "short",
  });
}

function pct(x) {
  return x === null || x === undefined ? "—" : `${(x * 100).toFixed(1)}%`;
}

// Fetch with the bearer token; throws {status, body} on non-2xx.
async function api(method, path, body, token) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  let payload;
  if (body instanceof URLSearchParams) {
    payload = body;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const res = await fetch(path, { method, headers, body: payload });
  const text = await res.text();
  const data = text ? JSON.parse(text) : null;
  if (!res.ok) throw { status: res.status, body: data };
  return data;
}

function errorText(err) {
  if (err && err.body && err.body.detail) {
    const d = err.body.detail;
    if (Array.isArray(d)) return d.map((p) => `${p.field}: ${p.rule}`).join("; ");
    return String(d);
  }
  return err && err.message ? err.message : String(err);
}

// The sign-in form every page shares: exchange the form's username and password for a
// token, keep it for this tab, then hand over to the page. Returns the token or null.
async function signInFromForm(event, tokenKey) {
  event.preventDefault();
  document.getElementById("signin-error").textContent = "";
  try {
    const form = new URLSearchParams({
      username: document.getElementById("username").value,
      password: document.getElementById("password").value,
    });
    const token = (await api("POST", "/api/v1/auth/token", form)).access_token;
    sessionStorage.setItem(tokenKey, token);
    return token;
  } catch (err) {
    document.getElementById("signin-error").textContent =
      err.status === 401 ? t("signin_failed") : errorText(err);
    return null;
  }
}
