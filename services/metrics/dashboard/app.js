// The dashboard: reads the metrics API and renders it; no build step, no framework.
"use strict";

const $ = (selector) => document.querySelector(selector);
const pct = new Intl.NumberFormat("vi-VN", { style: "percent", minimumFractionDigits: 2, maximumFractionDigits: 2 });
const num = new Intl.NumberFormat("vi-VN", { maximumFractionDigits: 2 });
const CHANNELS = { 1: "Trực tiếp", 2: "Trực tuyến", 3: "Bưu chính công ích" };
const state = { report: null, sort: { key: "rank", dir: 1 } };

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

function query() {
  const params = new URLSearchParams();
  if ($("#period").value) params.set("period", $("#period").value.trim());
  params.set("unit", $("#unit").value || "H44");
  return params;
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

function renderTrend(trend) {
  const svg = $("#trend");
  const width = 720, height = 220, pad = 30, step = (width - 2 * pad) / trend.length;
  const parts = [];
  trend.forEach((m, i) => {
    const h = ((height - 2 * pad) * (m.score ?? 0)) / 100;
    const x = pad + i * step;
    parts.push(`<rect class="bar" x="${x + 4}" y="${height - pad - h}" width="${step - 8}" height="${h}"><title>${m.period}: ${m.score === null ? "không có hồ sơ" : num.format(m.score) + " điểm"}</title></rect>`);
    parts.push(`<text x="${x + step / 2}" y="${height - 10}" text-anchor="middle">${m.period.slice(2)}</text>`);
  });
  const points = trend.map((m, i) => `${pad + i * step + step / 2},${height - pad - (height - 2 * pad) * (m.rates.on_time_rate ?? 0)}`);
  parts.push(`<polyline class="line" points="${points.join(" ")}"></polyline>`);
  svg.innerHTML = parts.join("");
}

async function loadDrillDown(unit) {
  const params = query();
  params.set("unit", unit);
  $("#drill-unit").textContent = unit;
  const [procedures, channels] = await Promise.all([
    getJSON(`/v1/indicators/breakdown?${params}&by=procedure`),
    getJSON(`/v1/indicators/breakdown?${params}&by=channel`),
  ]);
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
  const [report, targets, trend] = await Promise.all([
    getJSON(`/v1/indicators?${params}`), getJSON(`/v1/targets?${params}`), getJSON(`/v1/trend?${params}`),
  ]);
  state.report = report;
  $("#period").value = report.period.label;
  $("#unit-name").textContent = report.unit.name ?? report.unit.key;
  renderSummary(report.unit);
  renderUnits();
  renderTargets(targets);
  renderTrend(trend);
  await loadDrillDown(report.unit.key);
  document.body.dataset.loaded = report.period.label;  // lets tests and monitors know rendering finished
}

async function init() {
  const units = await getJSON("/v1/units");
  $("#unit").replaceChildren(...units.map((u) => new Option(`${u.code} ${u.name}`, u.code)));
  const params = new URLSearchParams(location.search);
  if (params.get("period")) $("#period").value = params.get("period");
  if (params.get("unit")) $("#unit").value = params.get("unit");
  $("#controls").addEventListener("submit", (event) => { event.preventDefault(); load(); });
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
  await load();
}

init().catch((error) => { document.body.dataset.error = error.message; console.error(error); });
