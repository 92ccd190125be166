// segflow dashboard: fetches the read API with a Bearer token and draws every
// figure as inline SVG. No dependencies, so it works offline.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const SEGMENTS = ["important_value", "important_develop", "important_keep", "important_retain",
  "general_value", "general_develop", "general_keep", "general_retain"];
const STAGES = ["prospect", "N", "E0", "S1", "S2", "S3"];
const STAGE_COLORS = { prospect: "#c9ced6", N: "#4caf50", E0: "#1e88e5", S1: "#ffb300", S2: "#fb8c00", S3: "#e53935" };
const SEGMENT_COLOR = (s) => s.startsWith("important") ? "#3949ab" : "#7986cb";

function el(name, attrs, parent, text) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

function svg(container, w, h) {
  container.replaceChildren();
  return el("svg", { viewBox: `0 0 ${w} ${h}`, role: "img" }, container);
}

function empty(container, msg) {
  container.replaceChildren();
  const p = document.createElement("p");
  p.className = "empty";
  p.textContent = msg;
  container.appendChild(p);
}

const pct = (x) => (100 * x).toFixed(1) + "%";

// barChart draws labelled vertical bars; each bar carries data-key and
// data-count so that tests and tools can read what is drawn.
function barChart(container, items, opts) {
  const w = opts.width || 900, h = opts.height || 260, left = 40, bottom = 60, top = 20;
  const s = svg(container, w, h);
  s.setAttribute("data-chart", opts.name);
  const max = Math.max(1, ...items.map((i) => i.value));
  const bw = (w - left - 10) / items.length;
  el("line", { x1: left, y1: h - bottom, x2: w - 5, y2: h - bottom, class: "axis" }, s);
  items.forEach((it, i) => {
    const bh = (h - bottom - top) * it.value / max;
    const x = left + i * bw + bw * 0.15;
    const g = el("g", { "data-key": it.key, "data-count": it.value }, s);
    el("rect", { x, y: h - bottom - bh, width: bw * 0.7, height: bh, fill: it.color, rx: 2 }, g)
      .appendChild(el("title", {}, null, `${it.label}: ${it.value}`));
    el("text", { x: x + bw * 0.35, y: h - bottom - bh - 4, "text-anchor": "middle", class: "value" }, g, String(it.value));
    el("text", { x: x + bw * 0.35, y: h - bottom + 14, "text-anchor": "middle" }, g, it.label);
    if (it.sub) el("text", { x: x + bw * 0.35, y: h - bottom + 28, "text-anchor": "middle" }, g, it.sub);
  });
}

function drawSegments(c) {
  barChart(document.getElementById("segments"), SEGMENTS.map((s) => ({
    key: s, value: c.segments[s] || 0, color: SEGMENT_COLOR(s),
    label: s.replace("_", " "), sub: c.buyers ? pct((c.segments[s] || 0) / c.buyers) : "",
  })), { name: "segments" });
}

function drawStages(c) {
  barChart(document.getElementById("stages"), STAGES.map((s) => ({
    key: s, value: c.stages[s] || 0, color: STAGE_COLORS[s], label: s,
  })), { name: "stages", width: 440, height: 380 });
}

// drawGrid draws the R×F heat map: rows R score 5 (top) to 1, columns F score 1 to 5.
function drawGrid(c) {
  const cell = 70, left = 50, top = 20;
  const s = svg(document.getElementById("grid"), left + 5 * cell + 10, top + 5 * cell + 40);
  s.setAttribute("data-chart", "grid");
  const max = Math.max(1, ...c.grid.flat());
  for (let r = 5; r >= 1; r--) {
    const y = top + (5 - r) * cell;
    el("text", { x: left - 8, y: y + cell / 2 + 4, "text-anchor": "end" }, s, "R" + r);
    for (let f = 1; f <= 5; f++) {
      const n = c.grid[r - 1][f - 1];
      const t = n / max;
      const x = left + (f - 1) * cell;
      const g = el("g", { "data-key": `r${r}f${f}`, "data-count": n }, s);
      const light = Math.round(245 - t * 190);
      el("rect", { x, y, width: cell - 2, height: cell - 2, fill: `rgb(${light},${Math.round(248 - t * 150)},255)` }, g)
        .appendChild(el("title", {}, null, `R score ${r}, F score ${f}: ${n} buyers`));
      el("text", { x: x + cell / 2 - 1, y: y + cell / 2 + 4, "text-anchor": "middle", class: t > 0.55 ? "value light" : "value" }, g, String(n));
    }
  }
  for (let f = 1; f <= 5; f++) {
    el("text", { x: left + (f - 1) * cell + cell / 2, y: top + 5 * cell + 16, "text-anchor": "middle" }, s, "F" + f);
  }
}

// drawNES draws the customers per stage at the end of each day as stacked
// bars, and the share of new customers among buyers as a line.
function drawNES(days) {
  const box = document.getElementById("nes");
  if (!days.length) return empty(box, "No days recorded yet.");
  const w = 900, h = 260, left = 50, right = 70, top = 24, bottom = 30;
  const s = svg(box, w, h);
  s.setAttribute("data-chart", "nes");
  const stages = STAGES.filter((st) => st !== "prospect");
  const totals = days.map((d) => stages.reduce((a, st) => a + (d.stages[st] || 0), 0));
  const max = Math.max(1, ...totals);
  const bw = (w - left - right) / days.length;
  const y = (v) => h - bottom - (h - bottom - top) * v / max;
  days.forEach((d, i) => {
    const g = el("g", { "data-key": d.date, "data-new-share": d.new_share }, s);
    let base = 0;
    for (const st of stages) {
      const v = d.stages[st] || 0;
      if (v > 0) {
        el("rect", { x: left + i * bw + bw * 0.1, y: y(base + v), width: Math.max(bw * 0.8, 0.5), height: y(base) - y(base + v), fill: STAGE_COLORS[st] }, g)
          .appendChild(el("title", {}, null, `${d.date} ${st}: ${v}`));
      }
      base += v;
    }
  });
  const share = days.map((d, i) => `${left + (i + 0.5) * bw},${top + (h - bottom - top) * (1 - d.new_share)}`);
  if (days.length > 1) el("polyline", { points: share.join(" "), fill: "none", stroke: "#111", "stroke-width": 1.5 }, s);
  days.forEach((d, i) => el("circle", { cx: left + (i + 0.5) * bw, cy: top + (h - bottom - top) * (1 - d.new_share), r: 3, fill: "#111" }, s));
  el("line", { x1: left, y1: h - bottom, x2: w - right, y2: h - bottom, class: "axis" }, s);
  el("text", { x: left - 6, y: y(max) + 4, "text-anchor": "end" }, s, String(max));
  el("text", { x: w - right + 6, y: top + 4 }, s, "100% new");
  el("text", { x: w - right + 6, y: h - bottom }, s, "0% new");
  el("text", { x: left, y: h - 8 }, s, days[0].date);
  if (days.length > 1) el("text", { x: w - right, y: h - 8, "text-anchor": "end" }, s, days[days.length - 1].date);
  stages.forEach((st, i) => {
    el("rect", { x: left + 10 + i * 60, y: 2, width: 10, height: 10, fill: STAGE_COLORS[st] }, s);
    el("text", { x: left + 24 + i * 60, y: 11 }, s, st);
  });
}

// drawCampaigns draws, per campaign, the treated and holdout conversion rates
// with their 95% intervals, and the lift with its interval.
function drawCampaigns(list) {
  drawRates("campaigns", list.map((c) => ({ key: c.campaign, treated: c.treated, holdout: c.holdout, what: "sent" })),
    "No campaign results yet.");
}

// drawJourneys draws, per journey version, its entries and then each send
// step and branch arm, each against the journey's holdout, as campaigns are.
function drawJourneys(list) {
  const rows = [];
  list.forEach((j) => {
    const name = `${j.journey} v${j.version}`, hold = j.entered.holdout;
    rows.push({ key: name, treated: j.entered.treated, holdout: hold, what: "entered" });
    j.steps.forEach((s) => {
      if (s.sent) rows.push({ key: `${name} / ${s.step}`, treated: s.sent, holdout: hold, what: "sent" });
      (s.arms || []).forEach((a) => rows.push({ key: `${name} / ${s.step}:${a.arm}`, treated: a.result, holdout: hold, what: "took" }));
    });
  });
  drawRates("journeys", rows, "No journey results yet.");
}

// drawRates draws rows of treated and holdout conversion rates into the
// chart called name.
function drawRates(name, list, none) {
  const box = document.getElementById(name);
  if (!list.length) return empty(box, none);
  const row = 70, left = 180, w = 900, scaleW = 480;
  // The rate axis ends at the next 10% above every interval drawn.
  const top = Math.min(1, Math.ceil(10 * Math.max(0.05, ...list.flatMap((c) => [c.treated.conversion_rate_ci95[1], c.holdout.conversion_rate_ci95[1]]))) / 10);
  const s = svg(box, w, list.length * row + 30);
  s.setAttribute("data-chart", name);
  const X = (v) => left + scaleW * Math.max(0, Math.min(1, v / top));
  [0, 0.25, 0.5, 0.75, 1].forEach((f) => {
    el("line", { x1: X(f * top), y1: 5, x2: X(f * top), y2: list.length * row + 5, class: "axis", "stroke-dasharray": "2,3" }, s);
    el("text", { x: X(f * top), y: list.length * row + 20, "text-anchor": "middle" }, s, pct(f * top));
  });
  list.forEach((c, i) => {
    const y = 10 + i * row;
    const g = el("g", { "data-key": c.key, "data-sent": c.treated.decided, "data-converted": c.treated.converted }, s);
    el("text", { x: 0, y: y + 18, class: "value" }, g, c.key);
    el("text", { x: 0, y: y + 34 }, g, `${c.what} ${c.treated.decided} · held ${c.holdout.decided}`);
    el("text", { x: 0, y: y + 50 }, g, `revenue ${c.treated.revenue}`);
    [["treated", c.treated, "#3949ab", 10], ["holdout", c.holdout, "#9e9e9e", 32]].forEach(([name, a, color, dy]) => {
      el("rect", { x: left, y: y + dy, width: X(a.conversion_rate) - left, height: 14, fill: color }, g)
        .appendChild(el("title", {}, null, `${name}: ${a.converted}/${a.decided}`));
      const [lo, hi] = a.conversion_rate_ci95;
      el("line", { x1: X(lo), y1: y + dy + 7, x2: X(hi), y2: y + dy + 7, stroke: "#111", "stroke-width": 1.5 }, g);
      el("text", { x: X(hi) + 6, y: y + dy + 11 }, g, `${name} ${pct(a.conversion_rate)}`);
    });
    const l = c.treated.lift;
    el("text", { x: left + scaleW + 100, y: y + 30, "text-anchor": "start", class: "value" }, g,
      l ? `lift ${l.difference >= 0 ? "+" : ""}${(100 * l.difference).toFixed(1)} pts` : "lift n/a");
    if (l) el("text", { x: left + scaleW + 100, y: y + 46 }, g, `95% CI ${(100 * l.ci95[0]).toFixed(1)} to ${(100 * l.ci95[1]).toFixed(1)}`);
  });
}

// drawPredicted fills the predictions card when the API has a fitted model:
// the customers by tenth of P(alive), and each RFM segment's predicted CLV
// per customer beside its historical CLV. Without a model the card stays
// hidden and empty.
function drawPredicted(clv) {
  const p = clv.predicted, card = document.getElementById("predicted");
  card.hidden = !p;
  if (!p) return card.querySelectorAll("#model, .chart").forEach((e) => e.replaceChildren());
  document.getElementById("model").textContent =
    `model ${p.model}, as of ${p.as_of}; CLV over the next ${p.horizon_days} days, discounted, in ${clv.currency}`;
  barChart(document.getElementById("palive"), p.p_alive_tenths.map((n, i) => ({
    key: String(i), value: n, color: "#00897b", label: `${10 * i}–${10 * i + 10}%`,
  })), { name: "palive", width: 560, height: 340 });
  drawCLV(document.getElementById("pclv"), clv.segments, p.segments);
}

// drawCLV draws, per segment, the historical and the predicted CLV per
// customer as bars one above the other, labelled with the API's amounts.
function drawCLV(box, hist, pred) {
  const keys = [...SEGMENTS, "none"].filter((k) => hist[k] || pred[k]);
  const row = 40, left = 120, w = 600, scaleW = 380, top = 22;
  const s = svg(box, w, top + keys.length * row);
  s.setAttribute("data-chart", "pclv");
  const avg = (v) => Math.max(0, v ? parseFloat(v.average) : 0);
  const max = Math.max(0.01, ...keys.flatMap((k) => [avg(hist[k]), avg(pred[k])]));
  keys.forEach((k, i) => {
    const y = top + i * row, n = pred[k] ? pred[k].customers : 0;
    const g = el("g", { "data-key": k, "data-customers": n }, s);
    el("text", { x: 0, y: y + 14, class: "value" }, g, k === "none" ? "no segment" : k.replace("_", " "));
    el("text", { x: 0, y: y + 28 }, g, `${n} predicted`);
    [["historical", hist[k], "#9e9e9e", 2], ["predicted", pred[k], "#3949ab", 18]].forEach(([name, v, color, dy]) => {
      if (!v) return;
      const bw = scaleW * avg(v) / max;
      el("rect", { x: left, y: y + dy, width: bw, height: 14, fill: color }, g)
        .appendChild(el("title", {}, null, `${name}: ${v.average} per customer, ${v.total} for ${v.customers}`));
      el("text", { x: left + bw + 6, y: y + dy + 11, class: name }, g, v.average);
    });
  });
  [["historical", "#9e9e9e"], ["predicted", "#3949ab"]].forEach(([name, color], i) => {
    el("rect", { x: left + i * 90, y: 2, width: 10, height: 10, fill: color }, s);
    el("text", { x: left + 14 + i * 90, y: 11 }, s, name);
  });
}

async function api(path, token) {
  const r = await fetch(path, { headers: { Authorization: "Bearer " + token } });
  if (r.status === 401) throw new Error("the token was refused");
  if (!r.ok) throw new Error(`${path}: ${r.status}`);
  return r.json();
}

async function load(token) {
  const status = document.getElementById("status");
  status.textContent = "loading…";
  try {
    const [counts, nes, camps, journeys, clv] = await Promise.all([
      api("/v1/counts", token), api("/v1/metrics/nes", token), api("/v1/campaigns", token), api("/v1/journeys", token),
      api("/v1/metrics/clv?limit=1", token)]);
    document.getElementById("charts").hidden = false;
    document.getElementById("asof").textContent = `${counts.buyers} buyers, as of ${counts.at}`;
    drawSegments(counts);
    drawGrid(counts);
    drawStages(counts);
    drawPredicted(clv);
    drawNES(nes.days);
    drawCampaigns(camps.campaigns);
    drawJourneys(journeys.journeys);
    status.textContent = "";
    document.body.setAttribute("data-loaded", "true");
  } catch (e) {
    status.textContent = e.message;
    document.body.setAttribute("data-loaded", "error");
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem("segflow-token", decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname);
  }
  document.getElementById("login").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const t = document.getElementById("token").value;
    sessionStorage.setItem("segflow-token", t);
    load(t);
  });
  const t = sessionStorage.getItem("segflow-token");
  if (t) load(t);
});
