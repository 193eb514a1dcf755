// The dashboard: reads the metrics API and renders it; no build step, no framework.
"use strict";

const $ = (selector) => document.querySelector(selector);
const pct = new Intl.NumberFormat("vi-VN", { style: "percent", minimumFractionDigits: 2, maximumFractionDigits: 2 });
const num = new Intl.NumberFormat("vi-VN", { maximumFractionDigits: 2 });
const CHANNELS = { 1: "Trực tiếp", 2: "Trực tuyến", 3: "Bưu chính công ích" };
const state = { report: null, targets: [], trend: [], sort: { key: "rank", dir: 1 }, loads: 0 };
// The reporting period: a month, the quarter or year containing it, or a range of months.
const picker = { kind: "month", month: thisMonth(), to: thisMonth() };
// Rates the trend can draw beside the score (the first ones have a Plan 617 target).
const TREND_RATES = ["online_rate", "digitization_rate", "sync_rate", "satisfaction_rate", "electronic_result_rate",
                     "on_time_rate"];
const SVG = "http://www.w3.org/2000/svg";

function ratio(value) { return value === null || value === undefined ? "—" : pct.format(value); }

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function fillRows(tbody, rows) {
  tbody.replaceChildren(...rows.map((cells) => {
    const tr = document.createElement("tr");
    tr.append(...cells);
    return tr;
  }));
  return tbody;
}

// What the per-dossier panels say when the token may not read (the API's own detail is English).
const DENIED = {
  401: "cần mã truy cập hợp lệ",
  403: "mã truy cập này không được xem hồ sơ của đơn vị này",
  503: "chưa cấu hình mã truy cập",
};

async function getJSON(path, headers = {}) {
  const response = await fetch(path, { headers });
  if (!response.ok) {
    const detail = DENIED[response.status] ?? `${(await response.json()).detail ?? ""}`;
    throw new Error(`${response.status}: ${detail}`);
  }
  return response.json();
}

function thisMonth() {
  const now = new Date();
  return `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, "0")}`;
}

function lastDay(month) {
  const [y, m] = month.split("-").map(Number);
  return `${month}-${String(new Date(Date.UTC(y, m, 0)).getUTCDate()).padStart(2, "0")}`;
}

function monthsIn(first, last) {
  const [a, b] = [first, last].map((m) => m.split("-").map(Number));
  return (b[0] - a[0]) * 12 + b[1] - a[1] + 1;
}

function periodParams() {
  const params = new URLSearchParams();
  const [year, month] = picker.month.split("-").map(Number);
  if (picker.kind === "quarter") params.set("period", `${year}-Q${Math.floor((month - 1) / 3) + 1}`);
  else if (picker.kind === "year") params.set("period", String(year));
  else if (picker.kind === "range") {
    const [first, last] = [picker.month, picker.to || picker.month].sort();
    params.set("from", `${first}-01`);
    params.set("to", lastDay(last));
  } else params.set("period", picker.month);
  return params;
}

function query() {
  const params = periodParams();
  params.set("unit", $("#unit").value || "H44");
  return params;
}

function trendMonths() {
  if (picker.kind !== "range") return 12;
  const [first, last] = [picker.month, picker.to || picker.month].sort();
  return Math.min(36, Math.max(1, monthsIn(first, last)));
}

// "2026-08" -> "08/2026"; a period label in words for the picker.
function monthLabel(month) { return `${month.slice(5, 7)}/${month.slice(0, 4)}`; }
function describe(label) {
  let m;
  if ((m = label.match(/^(\d{4})-(\d{2})$/))) return `Tháng ${m[2]}/${m[1]}`;
  if ((m = label.match(/^(\d{4})-Q(\d)$/))) return `Quý ${m[2]}/${m[1]}`;
  if ((m = label.match(/^(\d{4})$/))) return `Năm ${m[1]}`;
  if ((m = label.match(/^(\d{4})-(\d{2})-(\d{2})\.\.(\d{4})-(\d{2})-(\d{2})$/)))
    return `Từ ${m[3]}/${m[2]}/${m[1]} đến ${m[6]}/${m[5]}/${m[4]}`;
  return label;
}

// Month and year as two lists (Vietnamese whatever the browser's language), ten years back.
function fillMonthPickers() {
  const now = new Date().getFullYear();
  for (const id of ["#month", "#to-month"]) {
    $(id).replaceChildren(...Array.from({ length: 12 }, (_, i) => new Option(`Tháng ${i + 1}`, String(i + 1).padStart(2, "0"))));
  }
  for (const id of ["#year", "#to-year"]) {
    $(id).replaceChildren(...Array.from({ length: 11 }, (_, i) => new Option(String(now - i), String(now - i))));
  }
}

function showMonth(prefix, month) {
  const [year, mm] = month.split("-");
  if (![...$(`#${prefix}year`).options].some((o) => o.value === year)) $(`#${prefix}year`).append(new Option(year, year));
  $(`#${prefix}year`).value = year;
  $(`#${prefix}month`).value = mm;
}

function chosenMonth(prefix) { return `${$(`#${prefix}year`).value}-${$(`#${prefix}month`).value}`; }

function setPicker(kind) {
  picker.kind = kind;
  document.querySelectorAll("#period-picker [data-preset]").forEach((b) => {
    b.setAttribute("aria-pressed", String(b.dataset.preset === kind));
  });
  $("#range-fields").hidden = kind !== "range";
  showMonth("", picker.month);
  showMonth("to-", picker.to);
}

function pickerFromURL(params) {
  const period = params.get("period") ?? "";
  let m;
  if ((m = period.match(/^(\d{4})-(\d{2})$/))) Object.assign(picker, { kind: "month", month: period, to: period });
  else if ((m = period.match(/^(\d{4})-Q([1-4])$/))) {
    const month = `${m[1]}-${String(3 * Number(m[2]) - 2).padStart(2, "0")}`;
    Object.assign(picker, { kind: "quarter", month, to: month });
  } else if ((m = period.match(/^(\d{4})$/))) Object.assign(picker, { kind: "year", month: `${m[1]}-01`, to: `${m[1]}-12` });
  else if (params.get("from") && params.get("to"))
    Object.assign(picker, { kind: "range", month: params.get("from").slice(0, 7), to: params.get("to").slice(0, 7) });
  setPicker(picker.kind);
}

function renderSummary(unit) {
  const index = unit.index ?? { score: null, max_available: 0, max: 100, groups: [] };
  $("#total-score").textContent = index.score === null ? "—" : num.format(index.score);
  $("#total-note").textContent = `trên ${num.format(index.max_available)} điểm tính được (tối đa ${index.max})`
    + (unit.pending_catalog ? ` · ${num.format(unit.pending_catalog)} hồ sơ chờ danh mục, chưa đánh giá` : "");
  $("#groups").replaceChildren(...index.groups.map((g) => {
    const div = document.createElement("div");
    div.className = "group" + (g.provisional ? " provisional" : "");
    div.innerHTML = `<div class="label"></div><div class="value"></div><div class="bar"><span></span></div>`;
    div.querySelector(".label").textContent = g.name + (g.provisional ? " (tạm tính)" : "");
    div.querySelector(".value").textContent = `${num.format(g.score)} / ${g.max}`;
    div.querySelector(".bar span").style.width = `${(100 * g.score) / g.max}%`;
    return div;
  }));
  $("#rates").replaceChildren(...Object.values(unit.rates).map((r) => {
    const div = document.createElement("div");
    div.className = "rate";
    div.innerHTML = `<div class="value"></div><div class="label"></div><div class="note"></div>`;
    div.querySelector(".value").textContent = ratio(r.ratio);
    div.querySelector(".label").textContent = r.label;
    div.querySelector(".note").textContent = `${num.format(r.numerator)} / ${num.format(r.denominator)}`;
    return div;
  }));
}

function sortValue(row, key) {
  if (key === "score") return row.index?.score ?? -1;
  if (key === "change") return row.change.score ?? -Infinity;
  if (key.endsWith("_rate")) return row.rates[key].ratio ?? -1;
  return row[key] ?? (key === "rank" ? Infinity : "");
}

function renderUnits() {
  const filter = $("#filter").value.trim().toLowerCase();
  const { key, dir } = state.sort;
  const rows = state.report.children
    .filter((u) => !filter || u.key.toLowerCase().includes(filter) || (u.name ?? "").toLowerCase().includes(filter))
    .sort((a, b) => (sortValue(a, key) > sortValue(b, key) ? dir : sortValue(a, key) < sortValue(b, key) ? -dir : 0));
  const tbody = fillRows($("#units tbody"), rows.map((u) => {
    const change = u.change.score;
    return [
      cell(u.rank ?? "—"), cell(u.key), cell(u.name ?? ""), cell(num.format(u.received), "num"),
      cell(u.index ? num.format(u.index.score) : "—", "num"),
      cell(change === null ? "—" : (change > 0 ? "▲ " : change < 0 ? "▼ " : "") + num.format(Math.abs(change)),
           change > 0 ? "up" : change < 0 ? "down" : ""),
      cell(ratio(u.rates.on_time_rate.ratio), "num"), cell(ratio(u.rates.online_rate.ratio), "num"),
      cell(ratio(u.rates.digitization_rate.ratio), "num"), cell(ratio(u.rates.sync_rate.ratio), "num"),
    ];
  }));
  [...tbody.rows].forEach((tr, i) => { tr.dataset.unit = rows[i].key; tr.tabIndex = 0; });
}

function renderTargets({ targets, year }) {
  if (!targets.length) {  // a year without targets shows none, never another year's
    const none = cell(`Chưa có chỉ tiêu cho năm ${year}`);
    none.colSpan = 5;
    fillRows($("#targets tbody"), [[none]]);
    return;
  }
  fillRows($("#targets tbody"), targets.map((t) => [
    cell(t.alternatives.length ? `${t.label} (${t.alternatives.map((a) => a.note).join("; ")})` : t.label),
    cell(pct.format(t.target), "num"), cell(ratio(t.actual), "num"),
    cell(t.met === null ? "—" : t.met ? "Đạt" : "Chưa đạt", t.met ? "up" : t.met === false ? "down" : ""),
    cell(t.units_short.length ? `${t.units_short.length} đơn vị` : "—", "num"),
  ]));
}

function svg(name, attrs, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

// Score bars on the left axis (0-100 points), the chosen rate as a line on the right axis (0-100 %),
// its Plan 617 target as a dashed line; each month shows its values on hover or keyboard focus.
function renderTrend() {
  const chart = $("#trend"), trend = state.trend, rate = $("#trend-rate").value;
  const rateLabel = state.report.unit.rates[rate]?.label ?? rate;
  const target = state.targets.find((t) => t.rate === rate)?.target ?? null;
  const W = 760, H = 280, L = 58, R = 66, T = 16, B = 50, w = W - L - R, h = H - T - B;
  const step = w / Math.max(1, trend.length);
  const yScore = (v) => T + h - (h * v) / 100, yRate = (v) => T + h - h * v;
  const nodes = [];
  for (let v = 0; v <= 100; v += 20) {
    nodes.push(svg("line", { class: "grid", x1: L, x2: W - R, y1: yScore(v), y2: yScore(v) }));
    nodes.push(svg("text", { class: "tick", x: L - 6, y: yScore(v) + 4, "text-anchor": "end" }, num.format(v)));
    nodes.push(svg("text", { class: "tick", x: W - R + 6, y: yScore(v) + 4 }, `${v}%`));
  }
  nodes.push(svg("text", { class: "axis-title", transform: `translate(14 ${T + h / 2}) rotate(-90)`, "text-anchor": "middle" }, "Điểm 766"));
  nodes.push(svg("text", { class: "axis-title", transform: `translate(${W - 12} ${T + h / 2}) rotate(90)`, "text-anchor": "middle" }, "Tỷ lệ (%)"));
  nodes.push(svg("text", { class: "axis-title", x: L + w / 2, y: H - 6, "text-anchor": "middle" }, "Tháng"));
  const points = [];
  trend.forEach((m, i) => {
    const x = L + i * step, ratio = m.rates[rate];
    const group = svg("g", { class: "month", tabindex: "0", "data-period": m.period,
      "aria-label": tipLines(m, rateLabel, ratio).join("; ") });
    group.append(svg("rect", { class: "hit", x, y: T, width: step, height: h }));
    if (m.score !== null) {
      group.append(svg("rect", { class: "score-bar", x: x + step * 0.15, y: yScore(m.score), width: step * 0.7, height: T + h - yScore(m.score) }));
    }
    if (ratio !== null && ratio !== undefined) {
      points.push([x + step / 2, yRate(ratio)]);
      group.append(svg("circle", { class: "dot", cx: x + step / 2, cy: yRate(ratio), r: 3.5 }));
    }
    group.append(svg("text", { class: "tick", x: x + step / 2, y: T + h + 16, "text-anchor": "middle" }, monthLabel(m.period)));
    nodes.push(group);
  });
  nodes.splice(nodes.length - trend.length, 0, svg("polyline", { class: "line", points: points.map((p) => p.join(",")).join(" ") }));
  if (target !== null) {
    nodes.push(svg("line", { class: "target", x1: L, x2: W - R, y1: yRate(target), y2: yRate(target) }));
    nodes.push(svg("text", { class: "target-label", x: W - R - 4, y: yRate(target) - 5, "text-anchor": "end" },
      `Mục tiêu KH 617: ${pct.format(target)}`));
  }
  chart.replaceChildren(...nodes);
}

function tipLines(m, rateLabel, ratio) {
  return [
    `Tháng ${monthLabel(m.period)}`,
    `Điểm 766: ${m.score === null ? "không có hồ sơ" : num.format(m.score)}`,
    `${rateLabel}: ${ratio === null || ratio === undefined ? "—" : pct.format(ratio)}`,
    `Tiếp nhận: ${num.format(m.received)} hồ sơ`,
  ];
}

function showTip(group) {
  const m = state.trend.find((t) => t.period === group.dataset.period);
  if (!m) return;
  const rate = $("#trend-rate").value;
  const tip = $("#trend-tip");
  tip.replaceChildren(...tipLines(m, state.report.unit.rates[rate]?.label ?? rate, m.rates[rate]).map((line, i) => {
    const div = document.createElement("div");
    div.textContent = line;
    if (i === 0) div.className = "tip-title";
    return div;
  }));
  const box = group.querySelector(".hit").getBoundingClientRect(), frame = $(".chart").getBoundingClientRect();
  tip.hidden = false;
  tip.style.left = `${Math.min(frame.width - tip.offsetWidth, Math.max(0, box.left - frame.left + box.width / 2 - tip.offsetWidth / 2))}px`;
  tip.style.top = `${box.top - frame.top + 8}px`;
  document.querySelectorAll("#trend g.month.active").forEach((g) => g.classList.remove("active"));
  group.classList.add("active");
}

function hideTip() {
  $("#trend-tip").hidden = true;
  document.querySelectorAll("#trend g.month.active").forEach((g) => g.classList.remove("active"));
}

async function fetchDrillDown(unit) {
  const params = query();
  params.set("unit", unit);
  const [procedures, channels] = await Promise.all([
    getJSON(`/v1/indicators/breakdown?${params}&by=procedure`),
    getJSON(`/v1/indicators/breakdown?${params}&by=channel`),
  ]);
  return { unit, procedures, channels };
}

async function loadDrillDown(unit) {
  $("#drill-unit").textContent = unit;  // at once: the click is acknowledged while the rows load
  renderDrillDown(await fetchDrillDown(unit));
}

function renderDrillDown({ unit, procedures, channels }) {
  $("#drill-unit").textContent = unit;
  fillRows($("#by-procedure tbody"), procedures.rows.map((r) => [
    cell(r.key), cell(num.format(r.received), "num"), cell(ratio(r.rates.on_time_rate.ratio), "num"),
    cell(ratio(r.rates.online_rate.ratio), "num"),
    // 2.2, shown not scored, in the procedure's own time unit.
    cell(r.average_handling_time
      ? `${num.format(r.average_handling_time.value)} ${r.average_handling_time.label}` : "—", "num"),
  ]));
  fillRows($("#by-channel tbody"), channels.rows.map((r) => [
    cell(CHANNELS[r.key] ?? r.key), cell(num.format(r.received), "num"), cell(ratio(r.rates.on_time_rate.ratio), "num"),
  ]));
}

function authHeaders() {
  const token = $("#token").value.trim();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

async function loadOverdue() {
  const unit = $("#drill-unit").textContent || $("#unit").value;
  try {
    const rows = await getJSON(`/v1/overdue?unit=${encodeURIComponent(unit)}`, authHeaders());
    const tbody = fillRows($("#overdue tbody"), rows.map((d) => [
      cell(d.dossier_code), cell(d.procedure_code), cell(new Date(d.deadline_at).toLocaleString("vi-VN")),
      cell(num.format(d.overdue_hours), "num"),
    ]));
    [...tbody.rows].forEach((tr, i) => { tr.dataset.dossier = rows[i].dossier_code; tr.tabIndex = 0; });
  } catch (error) {
    fillRows($("#overdue tbody"), [[cell(`Không xem được: ${error.message}`)]]);
  }
}

async function loadDossier(code) {
  try {
    const dossier = await getJSON(`/v1/dossiers/${encodeURIComponent(code)}`, authHeaders());
    const steps = dossier.control_sheet.map((s) => (s.kind === "document_status"
      ? `Văn bản: ${s.status} ${s.status_name ?? ""}${s.recall ? " (văn bản bị thu hồi)" : ""}  ${s.from_unit}  ${s.handed_at}`
      : `${s.from_unit} → ${s.to_unit}  ${s.handed_at}  ${s.verdict ?? "đang xử lý"}`));
    $("#dossier").textContent = `Hồ sơ ${code}: trạng thái ${dossier.state?.status}, hạn ${dossier.state?.due_at}\nPhiếu kiểm soát:\n${steps.join("\n") || "(chưa luân chuyển)"}`;
  } catch (error) {
    $("#dossier").textContent = `Không xem được hồ sơ ${code}: ${error.message}`;
  }
}

async function load() {
  const params = query();
  $("#xlsx").href = `/v1/report.xlsx?${params}`;
  $("#csv").href = `/v1/report.csv?${params}`;
  const ticket = ++state.loads;
  // Everything at once: the report (with the Plan 617 targets), the trend and the drill-down.
  const [report, trend, drill] = await Promise.all([
    getJSON(`/v1/indicators?${params}`), getJSON(`/v1/trend?${params}&months=${trendMonths()}`),
    fetchDrillDown(params.get("unit")),
  ]);
  if (ticket !== state.loads) return;  // a newer choice of period or unit is loading: it renders
  Object.assign(state, { report, targets: report.targets.targets, trend });
  $("#period-label").textContent = describe(report.period.label);
  history.replaceState(null, "", `?${params}`);
  $("#unit-name").textContent = report.unit.name ?? report.unit.key;
  if (!$("#trend-rate").options.length) {
    $("#trend-rate").replaceChildren(...TREND_RATES.map((k) => new Option(report.unit.rates[k].label, k)));
  }
  renderSummary(report.unit);
  renderUnits();
  renderTargets(report.targets);
  renderTrend();
  renderDrillDown(drill);
  await state.unitsListed;
  if (ticket !== state.loads) return;
  document.body.dataset.loaded = report.period.label;  // lets tests and monitors know rendering finished
}

async function init() {
  const params = new URLSearchParams(location.search);
  fillMonthPickers();
  pickerFromURL(params);
  // The unit list and the first report load side by side; until the list is there, the chosen
  // unit is the URL's (or the province).
  const chosen = params.get("unit") ?? "H44";
  $("#unit").replaceChildren(new Option(chosen, chosen));
  const units = getJSON("/v1/units").then((list) => {
    $("#unit").replaceChildren(...list.map((u) => new Option(`${u.code} ${u.name}`, u.code)));
    $("#unit").value = chosen;
  });
  $("#controls").addEventListener("submit", (event) => { event.preventDefault(); load(); });
  for (const id of ["#month", "#year"]) $(id).addEventListener("change", () => { picker.month = chosenMonth(""); load(); });
  for (const id of ["#to-month", "#to-year"]) $(id).addEventListener("change", () => { picker.to = chosenMonth("to-"); load(); });
  $("#period-picker .presets").addEventListener("click", (event) => {
    const kind = event.target.dataset.preset;
    if (kind) { setPicker(kind); load(); }
  });
  $("#unit").addEventListener("change", () => load());
  $("#trend-rate").addEventListener("change", () => { hideTip(); renderTrend(); });
  for (const [type, handler] of [["mouseover", showTip], ["focusin", showTip]]) {
    $("#trend").addEventListener(type, (event) => { const g = event.target.closest("g.month"); if (g) handler(g); });
  }
  $("#trend").addEventListener("mouseleave", hideTip);
  $("#trend").addEventListener("focusout", hideTip);
  $("#filter").addEventListener("input", renderUnits);
  $("#units thead").addEventListener("click", (event) => {
    const key = event.target.dataset.key;
    if (!key) return;
    state.sort = { key, dir: state.sort.key === key ? -state.sort.dir : 1 };
    renderUnits();
  });
  $("#units tbody").addEventListener("click", (event) => {
    const unit = event.target.closest("tr")?.dataset.unit;
    if (unit) loadDrillDown(unit);
  });
  $("#load-overdue").addEventListener("click", loadOverdue);
  $("#overdue tbody").addEventListener("click", (event) => {
    const code = event.target.closest("tr")?.dataset.dossier;
    if (code) loadDossier(code);
  });
  state.unitsListed = units;
  await load();
}

init().catch((error) => { document.body.dataset.error = error.message; console.error(error); });
