// The page: file → column mapping → rank → queue, hot list, export, audit, model and device panels.
// Every piece of lead text reaches the DOM through textContent; nothing is parsed as HTML.

import { RankerClient, formatBytes } from './client.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const deviceParam = ['cpu', 'gpu'].includes(params.get('device')) ? params.get('device') : 'auto';
const MODEL_URL = new URL('models/demo.int8.safetensors', location.href).href;
const ROW_H = 44;
const OVERSCAN = 6;
const K_PERCENTS = [1, 5, 10, 20, 30, 50];
const CURVE_COLORS = ['c0', 'c1', 'c2', 'c3', 'c4', 'c5'];
const SVG = 'http://www.w3.org/2000/svg';

// `?workers=N` sets how many workers score on the CPU build (default: one per core).
const workersParam = Number.parseInt(params.get('workers') || '', 10);
// `?gpuLimit=BYTES`: the WebGPU build acts as if the adapter could bind at most BYTES in one
// buffer (maxStorageBufferBindingSize, maxBufferSize), to try the paths a small GPU takes.
const gpuLimitParam = Number(params.get('gpuLimit') || '');
const client = new RankerClient({
  device: deviceParam,
  workers: workersParam > 0 ? workersParam : undefined,
  gpuLimit: Number.isSafeInteger(gpuLimitParam) && gpuLimitParam > 0 ? gpuLimitParam : undefined,
});

const state = {
  build: null,
  model: null, // BundleInfo of the loaded model
  modelPromise: null,
  device: null,
  pendingBundle: null, // bytes of a dropped bundle awaiting confirmation
  csv: null, // { name, bytes }
  header: null,
  report: null,
  ranking: null, // RankedLead[] best first
  byIndex: null, // Map index → RankedLead
  cells: null, // summary cells per loaded row: [id, key fields..., snippet]
  keyColumns: [],
  view: [], // RankedLead[] currently shown (filtered + sorted)
  filterSet: null,
  selected: -1, // position in view
  explained: new Map(),
  busy: false,
};

// ---------------------------------------------------------------- helpers

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('aria-') || k.startsWith('data-') || k === 'role' || k === 'for') node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) if (c) node.append(c);
  return node;
}

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function showError(e) {
  const message = e instanceof Error ? e.message : String(e);
  $('banner-text').textContent = message;
  $('banner').hidden = false;
  console.error(e);
}

function clearError() {
  $('banner').hidden = true;
  $('banner-text').textContent = '';
}

/** Runs an async UI action; any error lands in the banner and the page stays usable. */
function guard(fn) {
  return async (...args) => {
    try {
      await fn(...args);
    } catch (e) {
      showError(e);
    }
  };
}

const pct = (x, digits = 1) => `${(x * 100).toFixed(digits)}%`;
const num = (x) => Math.round(x).toLocaleString('en-US');
// A rate with two significant decimals below 10 (a real-size model scores under one lead a second).
const rate = (x) => (x < 10 ? x.toPrecision(2) : num(x));

function secondsText(s) {
  if (!Number.isFinite(s)) return '…';
  if (s < 60) return `${Math.ceil(s)} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

// ---------------------------------------------------------------- device and model

/** An audit line's label: the model's own line (flagged by the engine) is named by its export
 * column; say what it is. */
function methodLabel(method) {
  return method.model ? `leadladder model (${method.name})` : method.name;
}

function renderDevice() {
  const dl = $('device-panel');
  dl.replaceChildren();
  const add = (term, value) => {
    if (value === null || value === undefined || value === '') return;
    dl.append(el('dt', { text: term }), el('dd', { text: String(value), 'data-field': term }));
  };
  const build = state.build;
  if (build) add('Engine', build.name === 'gpu' ? 'WebGPU build' : 'CPU build');
  if (build) add('Why', build.reason);
  if (build && build.softwareAdapter && build.name === 'cpu') {
    dl.append(
      el('dt', { text: 'Override' }),
      el('dd', { 'data-field': 'Override' }, el('a', { href: '?device=gpu', text: 'use the software WebGPU adapter anyway' })),
    );
  }
  if (build) add('Network policy', build.policy);
  const d = state.device?.device;
  if (d) {
    add('Running on', d.backend === 'webgpu' ? 'GPU (WebGPU)' : 'CPU');
    add('Adapter', d.adapter);
    add('Fell back because', d.fallbackReason);
    // The adapter's buffer limits beside what the model needs, so a model that does not fit says
    // by how much (`?gpuLimit=` lowers them, to try the paths a small GPU takes).
    const limits = Object.entries(d.limits || {}).filter(([k, v]) => Number.isFinite(v) && /Size$/.test(k));
    const parts = limits.map(([k, v]) => `${k} ${formatBytes(v)}`);
    // A table larger than one GPU buffer stays in wasm memory; each batch uploads its rows.
    if (d.limits && d.limits.embeddingOnHost) parts.push('embedding table on the host (its rows are gathered per batch)');
    if (parts.length) add('GPU buffer limits', parts.join(', '));
    if (build && build.name === 'gpu' && d.backend !== 'webgpu') {
      // The WebGPU build's own CPU fallback scores on one worker; the CPU build uses every core.
      dl.append(
        el('dt', { text: 'CPU build' }),
        el('dd', { 'data-field': 'CPU build' }, el('a', { href: '?device=cpu', text: 'use the CPU build instead (it scores on every core)' })),
      );
    }
  }
  const speed = state.device?.speed;
  if (speed) {
    const workers = speed.workers > 1 ? `, ${speed.workers} workers` : '';
    add('Measured speed', `${rate(speed.leadsPerSec)} leads/s (${num(speed.leads)} leads in ${speed.seconds.toFixed(1)} s${workers})`);
  }
  const plan = state.device?.helpers;
  if (plan && plan.wanted > 0) {
    const each = `each holds its own copy of the model, ${formatBytes(plan.perWorkerBytes)} of wasm memory`;
    if (plan.allowed < plan.wanted) add('Helper workers', `${plan.allowed} of ${plan.wanted}: ${plan.reason}`);
    else add('Helper workers', `up to ${plan.wanted} for files of 512 leads or more (${each}; at most ${formatBytes(plan.budgetBytes)} in all)`);
  }
  const mem = state.memory;
  if (mem && mem.own) {
    const helpers = mem.helpers.length ? ` + ${mem.helpers.length} helper${mem.helpers.length > 1 ? 's' : ''} ${formatBytes(mem.helpers.reduce((a, b) => a + b, 0))}` : '';
    add('Worker memory', `${formatBytes(mem.own)} wasm${helpers}`);
  }
  if (state.model) {
    add('Model', `${state.model.dtype}, ${num(state.model.parameters)} parameters, ${formatBytes(state.model.bytes)}`);
  }
}

async function modelSize() {
  try {
    const resp = await fetch(MODEL_URL, { method: 'HEAD' });
    const len = Number(resp.headers.get('Content-Length'));
    return resp.ok && len > 0 ? len : NaN;
  } catch {
    return NaN;
  }
}

function describeModel(info) {
  const { inputs, label } = info.spec;
  return `${info.format}, ${info.dtype} weights, ${num(info.parameters)} parameters (${formatBytes(info.bytes)}), reads ${inputs.length} columns (${inputs.join(', ')}); predicts ${label}.`;
}

/** "Loading model… 123 / 494 MB (from cache)" */
function modelProgressText(p) {
  const unit = (p.total || p.done) >= 1024 * 1024 ? ['MB', 1024 * 1024] : ['KB', 1024];
  const n = (x) => Math.round(x / unit[1]).toLocaleString('en-US');
  const size = p.total ? `${n(p.done)} / ${n(p.total)} ${unit[0]}` : `${n(p.done)} ${unit[0]}`;
  const from = { cache: ' (from cache)', network: ' (downloading)', file: ' (from the file)' }[p.source] || '';
  return `Loading model… ${size}${from}`;
}

function showModelProgress(p) {
  const text = modelProgressText(p);
  $('model-status').textContent = text;
  if (state.busy) {
    $('progress-text').textContent = text;
    if (p.total) {
      $('progress-bar').max = p.total;
      $('progress-bar').value = p.done;
    }
  }
}

/**
 * What the page says beside the model: the worker's notes (a damaged kept copy downloaded again,
 * a model the browser's storage could not keep) and, on the WebGPU build, why the model runs on
 * the CPU (e.g. a buffer larger than the adapter's maxStorageBufferBindingSize) with the offer
 * of the CPU build, which scores on every core.
 */
function showModelNotes(notes, device, build) {
  const box = $('model-note');
  box.replaceChildren();
  const lines = [...(notes || [])];
  const fellBack = build && build.name === 'gpu' && device && device.backend !== 'webgpu' && device.fallbackReason;
  for (const line of lines) box.append(el('p', { text: line }));
  if (fellBack) {
    box.append(
      el(
        'p',
        { class: 'limit' },
        `WebGPU cannot run this model here: ${device.fallbackReason}. `,
        el('a', { href: '?device=cpu', text: 'Use the CPU build' }),
        ' (it scores on every core; this build’s CPU fallback uses one).',
      ),
    );
  }
  box.hidden = !box.childElementCount;
  document.body.dataset.modelNote = lines.join(' ');
}

/**
 * The guard's verdict on the model's own test period, shown as soon as the model loads: a
 * warning when it ranked worse than recency or the hand tier sort beyond the intervals, a quiet
 * line otherwise; nothing for a model without one.
 */
function showGuard(guard) {
  const box = $('guard-note');
  box.replaceChildren();
  box.className = 'guard-note';
  box.removeAttribute('role');
  if (!guard || !guard.message) {
    box.hidden = true;
    delete document.body.dataset.guard;
    return;
  }
  box.classList.add(guard.status);
  if (guard.status === 'worse') box.setAttribute('role', 'alert');
  box.append(el('p', { text: guard.status === 'worse' ? `Warning: ${guard.message}` : guard.message }));
  box.hidden = false;
  document.body.dataset.guard = guard.status;
}

/**
 * How far the loaded file lies from the model's training data (checked while it was read): the
 * fields that drifted, in plain words; a line when nothing drifted or the file is too short to
 * judge; and for a model without a stored distribution, that the check is unavailable. Before a
 * file is loaded, only that last case shows.
 */
function showDrift(drift) {
  const panel = $('drift-panel');
  const list = $('drift-warnings');
  list.replaceChildren();
  if (!drift) {
    panel.hidden = true;
    delete document.body.dataset.drift;
    return;
  }
  const warnings = drift.warnings || [];
  let kind = 'none';
  if (!drift.available) kind = 'unavailable';
  else if (warnings.length) kind = 'drifted';
  else if (!drift.judged) kind = 'too-few';
  panel.className = `drift-panel ${kind}`;
  const summary = drift.available ? (drift.summary || '').replace(/^drift check: /, '') : drift.summary || '';
  $('drift-summary').textContent = summary.charAt(0).toUpperCase() + summary.slice(1);
  for (const w of warnings) list.append(el('li', { text: w }));
  panel.hidden = false;
  document.body.dataset.drift = kind;
}

/** What the drift panel says once a model is loaded and before a file is: only an old model's
 * "unavailable" (a model with a stored distribution checks the file when it is loaded). */
function driftBeforeFile(bundle) {
  if (bundle && bundle.driftProfileLeads == null) {
    // The words of the engine's own answer for such a bundle (leadladder_core::drift::UNAVAILABLE).
    showDrift({ available: false, summary: "drift check unavailable: this bundle was trained before leadladder stored its training data's distribution", warnings: [] });
  } else showDrift(null);
}

function afterModelLoaded(result, label) {
  state.model = result.bundle;
  state.device = result;
  state.ranking = null;
  renderDevice();
  $('model-status').textContent = `${label}: ${describeModel(result.bundle)}`;
  showModelNotes(result.notes, result.device, result.build);
  showGuard(result.bundle.guard);
  driftBeforeFile(result.bundle);
  $('model-button').hidden = true;
  document.body.dataset.modelSource = result.source || '';
  document.body.dataset.modelReady = 'true';
  client.memory().then(
    (m) => {
      state.memory = m;
      renderDevice();
    },
    () => undefined,
  );
}

/** The status line of a model that cannot be loaded: a model too big for this browser says so. */
function modelFailed(e) {
  $('model-status').textContent = e && e.kind === 'memory'
    ? `The model cannot be held in this browser: ${e.message}`
    : 'The model is not loaded.';
}

function loadDefaultModel() {
  if (!state.modelPromise) {
    $('model-status').textContent = 'Loading model…';
    $('model-button').disabled = true;
    state.modelPromise = client
      .loadModelUrl(MODEL_URL, showModelProgress)
      .then(async (result) => {
        afterModelLoaded(result, result.cached ? 'Built-in model (from this browser’s cache)' : 'Built-in model');
        if (state.csv) await prepareMapping();
        return result;
      })
      .catch((e) => {
        state.modelPromise = null;
        $('model-button').disabled = false;
        $('model-button').hidden = false;
        modelFailed(e);
        throw e;
      });
  }
  return state.modelPromise;
}

async function startup() {
  const init = await client.init();
  state.build = init.build;
  document.body.dataset.engine = init.build.name;
  client.offlineReady.then((kept) => {
    if (kept) document.body.dataset.offline = 'ready';
  });
  renderDevice();
  if (await client.modelCached(MODEL_URL)) {
    await loadDefaultModel();
    return;
  }
  const size = await modelSize();
  $('model-status').textContent = `The built-in ranking model is ${formatBytes(size)}. It is downloaded once, then kept in this browser (it works offline after that).`;
  $('model-button').hidden = false;
}

// A picked model file goes to the worker as a File (a handle, not its bytes): the worker reads it
// as a stream into the wasm module and builds it beside the current model, which stays in use
// until "Use this model".
async function onBundleFile(file) {
  $('bundle-check').hidden = true;
  state.pendingBundle = null;
  const status = $('bundle-status');
  status.hidden = false;
  status.textContent = `Checking ${file.name} (${formatBytes(file.size)})…`;
  let info;
  try {
    info = await client.prepareModel(file, (p) => {
      status.textContent = `${file.name}: ${modelProgressText(p)}`;
    });
  } catch (e) {
    status.textContent = e && e.kind === 'memory'
      ? `${file.name} cannot be held in this browser: ${e.message}`
      : `${file.name} cannot be used.`;
    throw e;
  }
  status.hidden = true;
  state.pendingBundle = { name: file.name, info };
  let summary = `${file.name} looks valid: ${describeModel(info.bundle)}`;
  if (info.bundle.guard && info.bundle.guard.status === 'worse') summary += ` Warning: ${info.bundle.guard.message}`;
  if (state.build && state.build.name === 'gpu' && info.device && info.device.backend !== 'webgpu' && info.device.fallbackReason) {
    summary += ` It would run on the CPU here: ${info.device.fallbackReason}.`;
  }
  $('bundle-summary').textContent = summary;
  $('bundle-check').hidden = false;
  $('bundle-use').focus();
}

async function usePendingBundle() {
  const pending = state.pendingBundle;
  if (!pending) return;
  state.pendingBundle = null;
  $('bundle-check').hidden = true;
  $('model-status').textContent = `Loading ${pending.name}…`;
  const result = await client.usePrepared();
  state.modelPromise = Promise.resolve(result);
  afterModelLoaded(result, pending.name);
  $('queue-card').hidden = true;
  $('audit-card').hidden = true;
  if (state.csv) await prepareMapping();
}

// ---------------------------------------------------------------- CSV and mapping

// The page keeps the picked file as a File (a handle): the worker reads its bytes, so no copy of
// the CSV stays in the page's memory.
async function onCsvFile(file) {
  clearError();
  const { name } = file;
  state.csv = { name, file };
  state.ranking = null;
  // The drift check is of a loaded file: the previous file's no longer applies.
  if (state.model) driftBeforeFile(state.model);
  $('file-status').textContent = `${name}: ${formatBytes(file.size)}`;
  const sniff = await client.sniffHeader(file);
  state.header = sniff.header;
  $('rank-button').disabled = false;
  if (state.model) await prepareMapping();
  else $('file-status').textContent = `${name}: ${formatBytes(file.size)}, ${sniff.header.length} columns. The column check runs once the model is loaded.`;
}

/** How the mapping form names each role the engine reports. */
const ROLE_LABELS = {
  id: 'Lead id',
  created_at: 'Created at',
  categorical: 'Category',
  numeric: 'Number',
  boolean: 'Yes/no',
  text: 'Conversation',
  score: 'Existing score',
  outcome: 'Outcome (audit only)',
};

async function prepareMapping() {
  if (!state.model || !state.header) return;
  // Every column the model's spec reads, in form order, with its role and matching header cell.
  const suggestion = await client.suggestMapping(state.header);
  const grid = $('mapping-fields');
  grid.replaceChildren();
  suggestion.columns.forEach(({ column, role, required, file }, i) => {
    const id = `map-${i}`;
    const select = el('select', { id, 'data-spec': column });
    select.append(el('option', { value: '', text: required ? '— missing —' : '— not in this file —' }));
    for (const h of state.header) select.append(el('option', { value: h, text: h }));
    select.value = file ?? '';
    const label = el('label', { for: id }, el('span', { class: 'role', text: ROLE_LABELS[role] ?? role }), ` ${column}`);
    const wrap = el('div', { class: `map-item${required && !file ? ' missing' : ''}` }, label, select);
    select.addEventListener('change', () => {
      wrap.classList.toggle('missing', required && !select.value);
    });
    grid.append(wrap);
  });
  $('mapping-form').hidden = false;
  const missing = suggestion.missing || [];
  $('file-status').textContent = missing.length
    ? `${state.csv.name}: the model needs ${missing.join(', ')}; pick the matching columns below.`
    : `${state.csv.name}: all ${suggestion.columns.length} columns the model knows were found. Press “Rank my leads”.`;
}

function currentMapping() {
  const mapping = {};
  for (const select of $('mapping-fields').querySelectorAll('select')) {
    if (select.value) mapping[select.dataset.spec] = select.value;
  }
  return Object.keys(mapping).length ? mapping : null;
}

// ---------------------------------------------------------------- ranking

function setBusy(busy) {
  state.busy = busy;
  $('rank-button').disabled = busy || !state.csv;
  $('cancel-button').hidden = !busy;
  $('progress').hidden = !busy;
}

async function rank() {
  if (!state.csv || state.busy) return;
  clearError();
  setBusy(true);
  try {
    $('progress-text').textContent = 'Loading model…';
    await loadDefaultModel();
    if ($('mapping-form').hidden) await prepareMapping();
    $('progress-text').textContent = 'Reading the file…';
    const report = await client.loadCsv(state.csv.file, currentMapping(), $('on-error').value);
    state.report = report;
    showDrift(report.drift);
    let status = `${state.csv.name}: ${num(report.rows)} leads read (${report.encoding}, “${report.delimiter === '\t' ? 'tab' : report.delimiter}” separated).`;
    if (report.skipped) status += ` ${num(report.skipped)} rows skipped: ${report.skippedReasons.slice(0, 3).join('; ')}`;
    if (report.formulaCells) status += ` ${num(report.formulaCells)} cells look like spreadsheet formulas; the export neutralises them.`;
    $('file-status').textContent = status;

    $('progress-bar').max = Math.max(1, report.rows);
    $('progress-bar').value = 0;
    const result = await client.score((p) => {
      $('progress-bar').value = p.done;
      $('progress-text').textContent = `${num(p.done)} of ${num(p.total)} leads · ${num(p.leadsPerSec)} leads/s · about ${secondsText(p.etaSeconds)} left`;
    });
    if (result.cancelled) {
      $('file-status').textContent = `Ranking cancelled after ${num(result.done)} of ${num(result.total)} leads. Press “Rank my leads” to start again.`;
      return;
    }
    state.device = await client.deviceInfo();
    state.memory = await client.memory().catch(() => null);
    renderDevice();
    await showRanking();
    if (report.hasOutcomes) {
      try {
        await showAudit();
      } catch (e) {
        // The queue is fine; only the check against past outcomes is not possible (e.g. no buyers).
        state.audit = null;
        $('audit-label').textContent = state.model.spec.label;
        $('audit-table-wrap').replaceChildren(el('p', { class: 'status', text: `This file cannot be audited: ${e instanceof Error ? e.message : String(e)}` }));
        $('audit-chart').replaceChildren();
        $('audit-caption').textContent = '';
        $('audit-card').hidden = false;
      }
    } else $('audit-card').hidden = true;
    document.body.dataset.ranked = String(report.rows);
  } finally {
    setBusy(false);
  }
}

async function showRanking() {
  const ranking = await client.ranking();
  state.ranking = ranking;
  state.byIndex = new Map(ranking.map((r) => [r.index, r]));
  state.explained = new Map();
  state.filterSet = null;
  $('filter-input').value = '';
  const spec = state.model.spec;
  state.keyColumns = [...spec.categorical.slice(0, 2), ...spec.numeric.slice(0, 1)];
  // Named as the spec names them; the engine resolves them through the file's column mapping.
  state.cells = await client.summary([spec.id, ...state.keyColumns, spec.text[0] || ''], 160);

  const sort = $('sort-select');
  for (const opt of [...sort.options]) if (opt.dataset.key) opt.remove();
  state.keyColumns.forEach((c, i) => sort.append(el('option', { value: `key-${i}`, text: c, 'data-key': '1' })));

  const head = $('queue-head');
  head.replaceChildren(
    ...['Rank', 'Grade', 'p(buy)', 'Lead', ...state.keyColumns, 'Conversation', ''].map((t) =>
      el('span', { role: 'columnheader', class: 'cell', text: t }),
    ),
  );
  $('queue-card').hidden = false;
  applyView();
  $('queue').scrollTop = 0;
  renderHotSummary();
}

function renderHotSummary() {
  if (!state.ranking) return;
  const cap = Math.max(1, Math.floor(Number($('capacity').value) || 50));
  const top = state.ranking.slice(0, cap);
  const expected = top.reduce((s, r) => s + r.pConvert, 0);
  const grades = { A: 0, B: 0, C: 0, D: 0 };
  for (const r of top) grades[r.grade] += 1;
  const gradeText = Object.entries(grades)
    .filter(([, n]) => n)
    .map(([g, n]) => `${n} ${g}`)
    .join(', ');
  $('hot-summary').textContent = `Today's hot list: call the top ${num(top.length)} of ${num(state.ranking.length)} leads first (grades ${gradeText}). Expected buyers among them: about ${expected.toFixed(1)}.`;
  renderRows();
}

function applyView() {
  if (!state.ranking) return;
  const cap = Math.max(1, Math.floor(Number($('capacity').value) || 50));
  let view = state.ranking;
  if (state.filterSet) view = view.filter((r) => state.filterSet.has(r.index));
  if ($('hot-only').checked) view = view.filter((r) => r.rank <= cap);
  const sort = $('sort-select').value;
  if (sort === 'rank-desc') view = [...view].reverse();
  else if (sort === 'id') view = [...view].sort((a, b) => a.id.localeCompare(b.id, undefined, { numeric: true }));
  else if (sort.startsWith('key-')) {
    const k = Number(sort.slice(4)) + 1;
    const cell = (r) => state.cells[r.index][k];
    view = [...view].sort((a, b) => cell(a).localeCompare(cell(b), undefined, { numeric: true }) || a.rank - b.rank);
  }
  state.view = view;
  state.selected = Math.min(state.selected, view.length - 1);
  $('queue-spacer').style.height = `${view.length * ROW_H}px`;
  $('queue-table').setAttribute('aria-rowcount', String(view.length + 1));
  $('queue-count').textContent = view.length === state.ranking.length
    ? `${num(view.length)} leads`
    : `${num(view.length)} of ${num(state.ranking.length)} leads shown`;
  renderRows();
}

let renderQueued = false;
function renderRows() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    drawRows();
  });
}

function drawRows() {
  const queue = $('queue');
  const spacer = $('queue-spacer');
  const cap = Math.max(1, Math.floor(Number($('capacity').value) || 50));
  const first = Math.max(0, Math.floor(queue.scrollTop / ROW_H) - OVERSCAN);
  const last = Math.min(state.view.length, Math.ceil((queue.scrollTop + queue.clientHeight) / ROW_H) + OVERSCAN);
  const rows = [];
  for (let pos = first; pos < last; pos++) {
    const r = state.view[pos];
    const cells = state.cells[r.index];
    const snippet = (cells[cells.length - 1] || '').replace(/\s*\n\s*/g, ' / ');
    const why = el('button', { type: 'button', class: 'why', text: 'Why?', 'aria-label': `Why is lead ${r.id} ranked ${r.rank}?` });
    why.addEventListener('click', guard(async (ev) => {
      ev.stopPropagation();
      await select(pos, true);
    }));
    const row = el(
      'div',
      {
        class: `queue-row${r.rank <= cap ? ' hot' : ''}${pos === state.selected ? ' selected' : ''}`,
        role: 'row',
        'aria-rowindex': String(pos + 2),
        'aria-selected': String(pos === state.selected),
        'data-index': String(r.index),
        'data-rank': String(r.rank),
      },
      el('span', { class: 'cell num', role: 'cell', text: String(r.rank) }),
      el('span', { class: `cell grade grade-${r.grade}`, role: 'cell', text: r.grade }),
      el('span', { class: 'cell num', role: 'cell', text: pct(r.pConvert), 'data-score': String(r.score), 'data-p': String(r.pConvert) }),
      el('span', { class: 'cell id', role: 'cell', text: r.id }),
      ...state.keyColumns.map((_, k) => el('span', { class: 'cell', role: 'cell', text: cells[k + 1] })),
      el('span', { class: 'cell snippet', role: 'cell', text: snippet, title: snippet }),
      el('span', { class: 'cell', role: 'cell' }, why),
    );
    row.style.transform = `translateY(${pos * ROW_H}px)`;
    row.addEventListener('click', guard(() => select(pos, false)));
    rows.push(row);
  }
  spacer.replaceChildren(...rows);
}

async function select(pos, withReasons) {
  if (pos < 0 || pos >= state.view.length) return;
  state.selected = pos;
  const queue = $('queue');
  const top = pos * ROW_H;
  if (top < queue.scrollTop) queue.scrollTop = top;
  else if (top + ROW_H > queue.scrollTop + queue.clientHeight) queue.scrollTop = top + ROW_H - queue.clientHeight;
  renderRows();
  const r = state.view[pos];
  const { header, rows } = await client.rows(r.index, r.index + 1);
  const values = rows[0] || [];
  $('detail').hidden = false;
  $('detail-title').textContent = `Lead ${r.id}`;
  $('detail-scores').textContent = `Rank ${r.rank} of ${num(state.ranking.length)} · grade ${r.grade} · chance to buy ${pct(r.pConvert)} · score ${r.score.toFixed(3)}`;
  const dl = $('detail-fields');
  dl.replaceChildren();
  header.forEach((h, i) => {
    const dd = el('dd', { text: values[i] ?? '' });
    dl.append(el('dt', { text: h }), dd);
  });
  if (withReasons || state.explained.has(r.index)) await showReasons(r);
  else $('detail-reasons').replaceChildren(el('button', { type: 'button', class: 'why', text: 'Why this rank?', onclick: guard(() => showReasons(r)) }));
}

async function showReasons(r) {
  const box = $('detail-reasons');
  let reasons = state.explained.get(r.index);
  if (!reasons) {
    box.replaceChildren(el('p', { class: 'muted', text: 'Working out what moved this lead…' }));
    const [exp] = await client.explain([r.index], 5);
    reasons = exp ? exp.reasons : [];
    state.explained.set(r.index, reasons);
  }
  const list = el('ol', { class: 'reason-list' });
  for (const reason of reasons) {
    const up = reason.delta >= 0;
    list.append(
      el(
        'li',
        { class: up ? 'up' : 'down' },
        el('span', { class: 'delta', text: `${up ? '▲ raises' : '▼ lowers'} ${Math.abs(reason.delta).toFixed(2)}` }),
        ' ',
        el('span', { class: 'factor', text: String(reason.factor ?? reason.name ?? '') }),
      ),
    );
  }
  box.replaceChildren(
    el('h4', { text: reasons.length ? 'What moved this lead (biggest first)' : 'No single field stands out for this lead.' }),
    list,
  );
}

async function exportCsv() {
  if (!state.ranking) return;
  const blob = await client.exportCsv();
  const url = URL.createObjectURL(blob);
  const base = (state.csv?.name || 'leads').replace(/\.[^.]+$/, '');
  const a = el('a', { href: url, download: `${base}-ranked.csv` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

// ---------------------------------------------------------------- audit

async function showAudit() {
  const result = await client.audit(K_PERCENTS);
  state.audit = result;
  $('audit-label').textContent = `${state.model.spec.label}: ${num(result.positives)} of ${num(result.n)}`;
  const table = el('table', { class: 'audit' });
  const ks = result.methods[0]?.atK.map((a) => a.k) || [];
  table.append(
    el('caption', { class: 'muted', text: 'Share of buyers in the top K% of each ordering (and lift over random)' }),
    el('thead', {}, el('tr', {}, el('th', { scope: 'col', text: 'Ordering' }), el('th', { scope: 'col', text: 'AUC' }), ...ks.map((k) => el('th', { scope: 'col', text: `top ${k}%` })))),
  );
  const body = el('tbody');
  for (const m of result.methods) {
    const tr = el('tr', { 'data-method': m.name }, el('th', { scope: 'row', text: methodLabel(m) }), el('td', { text: m.auc.toFixed(3), 'data-auc': String(m.auc) }));
    for (const a of m.atK) {
      tr.append(el('td', { text: `${pct(a.precision)} (×${a.lift.toFixed(1)})`, 'data-k': String(a.k), 'data-precision': String(a.precision), 'data-lift': String(a.lift), 'data-hits': String(a.hits) }));
    }
    body.append(tr);
  }
  table.append(body);
  $('audit-table-wrap').replaceChildren(table);
  $('audit-card').hidden = false;
  drawChart();
}

function drawChart() {
  const result = state.audit;
  if (!result) return;
  const metric = $('chart-metric').value;
  const W = 640;
  const H = 300;
  const m = { l: 56, r: 16, t: 16, b: 44 };
  const curves = result.curve.filter((c) => c.points.length);
  const maxX = Math.max(1, ...curves.flatMap((c) => c.points.map((p) => p.k)));
  const maxY = Math.max(1e-9, ...curves.flatMap((c) => c.points.map((p) => p[metric]))) * 1.05;
  const x = (k) => m.l + (k / maxX) * (W - m.l - m.r);
  const y = (v) => H - m.b - (v / maxY) * (H - m.t - m.b);
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': 'chart-title', class: 'chart-svg' });
  root.append(svg('title', { id: 'chart-title' }, metric === 'lift' ? 'Lift at K% for each ordering' : 'Precision at K% for each ordering'));
  for (let i = 0; i <= 4; i++) {
    const v = (maxY / 4) * i;
    root.append(svg('line', { x1: m.l, x2: W - m.r, y1: y(v), y2: y(v), class: 'grid' }));
    root.append(svg('text', { x: m.l - 6, y: y(v) + 4, class: 'tick', 'text-anchor': 'end' }, metric === 'lift' ? v.toFixed(1) : pct(v, maxY < 0.2 ? 1 : 0)));
  }
  for (let i = 0; i <= 5; i++) {
    const k = (maxX / 5) * i;
    root.append(svg('text', { x: x(k), y: H - m.b + 16, class: 'tick', 'text-anchor': 'middle' }, `${Math.round(k)}%`));
  }
  root.append(svg('text', { x: (m.l + W - m.r) / 2, y: H - 6, class: 'axis-label', 'text-anchor': 'middle' }, 'top K% of the queue'));
  if (metric === 'lift') root.append(svg('line', { x1: m.l, x2: W - m.r, y1: y(1), y2: y(1), class: 'baseline' }));
  const legend = el('ul', { class: 'legend' });
  curves.forEach((c, i) => {
    const cls = CURVE_COLORS[i % CURVE_COLORS.length];
    const d = c.points.map((p, j) => `${j ? 'L' : 'M'}${x(p.k).toFixed(1)},${y(p[metric]).toFixed(1)}`).join(' ');
    root.append(svg('path', { d, class: `curve ${cls}`, 'data-method': c.name }));
    legend.append(el('li', {}, el('span', { class: `swatch ${cls}`, 'aria-hidden': 'true' }), el('span', { text: methodLabel(c) })));
  });
  $('audit-chart').replaceChildren(root, legend);
  $('audit-caption').textContent = metric === 'lift'
    ? 'Lift: how many times more buyers than calling the same number of leads at random (1 = no better).'
    : 'Precision: the share of buyers among the top K% of each ordering.';
}

// ---------------------------------------------------------------- training (web/train.js)

// The panel and the trainer's wasm load only when asked for: the ranking page loads as before.
// A model trained here is kept in the Cache API (train.js); the model card offers it again.
const TRAINED_CACHE = 'leadladder-trained-v1';
const TRAINED_URL = new URL('trained/latest.safetensors', import.meta.url).href;
let training = null;

async function useTrainedBundle(file) {
  await onBundleFile(file);
  await usePendingBundle();
}

async function openTrainingPanel() {
  if (!training) {
    const { openTraining } = await import('./train.js');
    training = openTraining({ host: $('train-card'), csvFile: () => (state.csv ? state.csv.file : null), useBundle: useTrainedBundle });
    await training.ready;
  } else if (state.csv) {
    await training.load(state.csv.file);
  }
  $('train-card').hidden = false;
  $('train-card').scrollIntoView({ block: 'start' });
}

async function offerTrainedModel() {
  if (typeof caches === 'undefined' || !(await caches.has(TRAINED_CACHE))) return;
  const hit = await (await caches.open(TRAINED_CACHE)).match(TRAINED_URL);
  if (!hit) return;
  const name = hit.headers.get('x-leadladder-name') || 'trained.safetensors';
  const saved = hit.headers.get('x-leadladder-saved');
  $('trained-note').textContent = `${name}${saved ? `, trained ${saved.slice(0, 10)}` : ''}`;
  $('trained-offer').hidden = false;
  $('trained-use').onclick = guard(async () => {
    const again = await (await caches.open(TRAINED_CACHE)).match(TRAINED_URL);
    if (!again) throw new Error('The trained model is no longer kept in this browser.');
    await useTrainedBundle(new File([await again.arrayBuffer()], name, { type: 'application/octet-stream' }));
  });
}

// ---------------------------------------------------------------- wiring

function isBundle(file) {
  return /\.safetensors$/i.test(file.name);
}

async function onFiles(files) {
  const file = files && files[0];
  if (!file) return;
  clearError();
  if (isBundle(file)) await onBundleFile(file);
  else await onCsvFile(file);
}

function wire() {
  $('banner-close').addEventListener('click', clearError);
  $('csv-input').addEventListener('change', guard(async (e) => {
    await onFiles(e.target.files);
    e.target.value = '';
  }));
  $('bundle-input').addEventListener('change', guard(async (e) => {
    await onFiles(e.target.files);
    e.target.value = '';
  }));
  $('sample-button').addEventListener('click', guard(async () => {
    const resp = await fetch('samples/demo-leads.csv');
    if (!resp.ok) throw new Error(`Could not load the sample leads (HTTP ${resp.status}).`);
    await onCsvFile(new File([await resp.blob()], 'demo-leads.csv', { type: 'text/csv' }));
  }));
  const zone = $('dropzone');
  zone.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      $('csv-input').click();
    }
  });
  // Files may be dropped anywhere on the page.
  document.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('over');
  });
  document.addEventListener('dragleave', (e) => {
    if (!e.relatedTarget) zone.classList.remove('over');
  });
  document.addEventListener('drop', guard(async (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    await onFiles(e.dataTransfer?.files);
  }));
  $('model-button').addEventListener('click', guard(loadDefaultModel));
  $('bundle-use').addEventListener('click', guard(usePendingBundle));
  $('bundle-discard').addEventListener('click', guard(async () => {
    state.pendingBundle = null;
    $('bundle-check').hidden = true;
    await client.discardPrepared();
  }));
  $('rank-button').addEventListener('click', guard(rank));
  $('train-open').addEventListener('click', guard(openTrainingPanel));
  $('cancel-button').addEventListener('click', () => client.cancel());
  $('capacity').addEventListener('input', () => {
    renderHotSummary();
    if ($('hot-only').checked) applyView();
  });
  $('hot-only').addEventListener('change', applyView);
  $('sort-select').addEventListener('change', applyView);
  let filterTimer = 0;
  $('filter-input').addEventListener('input', () => {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(guard(async () => {
      const q = $('filter-input').value.trim();
      state.filterSet = q ? new Set(await client.filter(q)) : null;
      applyView();
    }), 200);
  });
  $('export-button').addEventListener('click', guard(exportCsv));
  $('chart-metric').addEventListener('change', drawChart);
  $('queue').addEventListener('scroll', renderRows, { passive: true });
  window.addEventListener('resize', renderRows);
  $('queue').addEventListener('keydown', guard(async (e) => {
    if (!state.view.length) return;
    const page = Math.max(1, Math.floor($('queue').clientHeight / ROW_H) - 1);
    const moves = { ArrowDown: 1, ArrowUp: -1, PageDown: page, PageUp: -page, Home: -Infinity, End: Infinity };
    if (e.key in moves) {
      e.preventDefault();
      const next = Math.max(0, Math.min(state.view.length - 1, (state.selected < 0 ? -1 : state.selected) + moves[e.key]));
      await select(Number.isFinite(next) ? next : 0, false);
    } else if (e.key === 'Enter' && state.selected >= 0) {
      e.preventDefault();
      await select(state.selected, true);
    }
  }));
}

wire();
if ('serviceWorker' in navigator && params.get('sw') !== 'off') {
  navigator.serviceWorker.register('sw.js').catch(() => {
    // offline support is a bonus; the page works without it
  });
}
guard(startup)();
// An offer only: a browser without the Cache API (or refusing it) just shows none.
offerTrainedModel().catch(() => undefined);
