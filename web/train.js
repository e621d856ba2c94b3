// The "Train on this file" panel: the ladder editor (or a dropped spec file), training with live
// progress and cancel, the test-period report, and the trained model used at once, downloaded
// and kept in the Cache API. Loaded by app.js only when the panel is opened; the trainer's wasm
// (pkg/train/) is loaded by its worker only when a spec is checked or a run starts.
//
// Every rule lives in Rust: the spec is validated and written as TOML by core's spec code
// (`specToToml`, `readSpec`), training is `leadladder train`'s code (train-worker.js). This
// module keeps the form. All text reaches the DOM through textContent.

import { TrainerClient, TrainCancelled, ProgressMeter } from './train-client.js';

export const TRAINED_CACHE = 'leadladder-trained-v1';
// The largest CSV the page trains on. The trainer holds the file, its leads, the BPE training
// texts and the encoded examples in wasm memory (at most 4 GiB in a browser tab): measured at
// about 3.5 MiB per MiB of CSV over the model's working set (bench/browser/train.md), so 256 MiB
// of CSV stays near 1 GiB; such a file would also train for hours in a tab.
// `?trainLimit=BYTES` lowers it (for tests).
const LIMIT_PARAM = Number(new URLSearchParams(location.search).get('trainLimit') || '');
export const MAX_TRAIN_BYTES = Number.isSafeInteger(LIMIT_PARAM) && LIMIT_PARAM > 0 ? LIMIT_PARAM : 256 * 2 ** 20;
export const TRAINED_KEY = 'trained/latest.safetensors';
const ROLES = ['categorical', 'numeric', 'boolean', 'text', 'score', 'ignore', 'id', 'created_at', 'outcome'];
const ROLE_LABELS = {
  categorical: 'Category', numeric: 'Number', boolean: 'Yes/no', text: 'Conversation', score: 'Existing score (audited)',
  ignore: 'Ignore', id: 'Lead id', created_at: 'Created at', outcome: 'Outcome (not an input)',
};

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('aria-') || k.startsWith('data-') || k === 'for' || k === 'role') node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) if (c) node.append(c);
  return node;
}

const fmtSeconds = (s) => (s >= 90 ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s` : `${Math.round(s)} s`);
const mib = (b) => (b >= 2 ** 20 ? `${(b / 2 ** 20).toFixed(0)} MiB` : `${Math.max(1, Math.round(b / 1024))} KiB`);

function download(name, blob) {
  const url = URL.createObjectURL(blob);
  const a = el('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Keeps the trained bundle (and its report) in the Cache API for the next visit. */
async function keep(bytes, name, reportMarkdown) {
  if (typeof caches === 'undefined') return false;
  const cache = await caches.open(TRAINED_CACHE);
  const base = new URL('./', import.meta.url);
  await cache.put(new URL(TRAINED_KEY, base).href, new Response(bytes, {
    headers: { 'content-type': 'application/octet-stream', 'x-leadladder-name': name, 'x-leadladder-saved': new Date().toISOString() },
  }));
  await cache.put(new URL('trained/latest.report.md', base).href, new Response(reportMarkdown, { headers: { 'content-type': 'text/markdown' } }));
  return true;
}

/** A literal of the column's kind (number, yes/no or text) for a condition. */
function scalar(column, text) {
  const t = String(text).trim();
  if (column && column.numeric && t !== '' && Number.isFinite(Number(t))) return Number(t);
  if (column && column.boolean && /^(true|false)$/i.test(t)) return /^true$/i.test(t);
  return t;
}

/**
 * Opens the panel in `host` (an element). `csvFile()` gives the loaded File (or null),
 * `useBundle(file)` loads a bundle into the ranking engine as if dropped and confirmed.
 */
export function openTraining({ host, csvFile, useBundle }) {
  const trainer = new TrainerClient();
  const state = { columns: null, file: null, toml: null, running: null, result: null, rungs: [], tiers: [], label: null, adopted: null };
  host.replaceChildren();
  host.hidden = false;

  const status = el('p', { id: 'train-status', class: 'status', 'aria-live': 'polite' });
  const error = el('p', { id: 'train-error', class: 'train-error', role: 'alert', hidden: true });
  const roleGrid = el('div', { id: 'train-roles', class: 'mapping-grid' });
  const labelColumn = el('select', { id: 'train-label-column' });
  const labelValue = el('select', { id: 'train-label-value' });
  const rungList = el('ol', { id: 'train-rungs', class: 'train-rungs' });
  const rungColumn = el('select', { id: 'train-rung-column' });
  const rungTest = el('select', { id: 'train-rung-test' }, el('option', { value: 'equals', text: 'equals' }), el('option', { value: 'gte', text: 'is at least' }));
  const rungValue = el('input', { id: 'train-rung-value', type: 'text', placeholder: 'value or threshold' });
  const rungMargin = el('input', { id: 'train-rung-margin', type: 'number', step: '0.05', min: '0', value: '0.5' });
  const addRung = el('button', { type: 'button', id: 'train-add-rung', text: 'Add rung' });
  const tierList = el('ol', { id: 'train-tiers', class: 'train-rungs' });
  const tierColumn = el('select', { id: 'train-tier-column' });
  const tierTest = el('select', { id: 'train-tier-test' }, el('option', { value: 'equals', text: 'equals' }), el('option', { value: 'gte', text: 'is at least' }));
  const tierValue = el('input', { id: 'train-tier-value', type: 'text', placeholder: 'value or threshold' });
  const addTier = el('button', { type: 'button', id: 'train-add-tier', text: 'Add tier' });
  const buildButton = el('button', { type: 'button', id: 'train-build-spec', text: 'Write the spec' });
  const specText = el('textarea', { id: 'train-spec', rows: 12, spellcheck: false, 'aria-label': 'Ladder spec (TOML)' });
  const specInput = el('input', { type: 'file', id: 'train-spec-input', accept: '.toml,text/plain' });
  const specDownload = el('button', { type: 'button', id: 'train-spec-download', text: 'Download spec (.toml)' });
  const preset = el('select', { id: 'train-preset' }, el('option', { value: 'tiny', text: 'tiny (quick)' }), el('option', { value: 'demo', text: 'demo (3-model ensemble, as the built-in model)' }));
  const seed = el('input', { id: 'train-seed', type: 'number', min: '0', step: '1', value: '7' });
  const start = el('button', { type: 'button', id: 'train-start', class: 'primary', text: 'Train' });
  const cancel = el('button', { type: 'button', id: 'train-cancel', text: 'Cancel', hidden: true });
  const bar = el('progress', { id: 'train-progress', max: 1, value: 0, 'aria-label': 'Training progress' });
  const progressText = el('span', { id: 'train-progress-text', 'aria-live': 'polite' });
  const epochs = el('ul', { id: 'train-epochs', class: 'train-epochs' });
  const result = el('div', { id: 'train-result', hidden: true });

  const showError = (e) => {
    error.textContent = e instanceof Error ? e.message : String(e);
    error.hidden = false;
  };
  const clear = () => {
    error.hidden = true;
    error.textContent = '';
  };
  const act = (fn) => async (...args) => {
    clear();
    try {
      await fn(...args);
    } catch (e) {
      showError(e);
    }
  };

  host.append(
    el('h2', { id: 'train-title', text: 'Train a ranker on this file' }),
    el('p', { class: 'muted', text: 'Trains in this tab with leadladder’s own trainer (the same code as `leadladder train`): nothing leaves your computer. The tiny preset takes about a minute per few thousand leads; demo trains three models.' }),
    status,
    error,
    el('fieldset', {},
      el('legend', { text: '1. What each column is' }),
      roleGrid),
    el('fieldset', {},
      el('legend', { text: '2. What a win is, and the funnel’s rungs (highest first)' }),
      el('div', { class: 'row' }, el('label', { for: 'train-label-column', text: 'Outcome column' }), labelColumn, el('label', { for: 'train-label-value', text: 'winning value' }), labelValue),
      rungList,
      el('div', { class: 'row' }, el('label', { for: 'train-rung-column', text: 'Rung: leads whose' }), rungColumn, rungTest, rungValue,
        el('label', { for: 'train-rung-margin', text: 'margin' }), rungMargin, addRung),
      el('p', { class: 'muted', text: 'Hand tiers (optional, highest first): the rule a team sorts by today. The report puts the model beside this sort, and the guard warns when the model does worse than it.' }),
      tierList,
      el('div', { class: 'row' }, el('label', { for: 'train-tier-column', text: 'Tier: leads whose' }), tierColumn, tierTest, tierValue, addTier),
      el('div', { class: 'actions' }, buildButton)),
    el('fieldset', {},
      el('legend', { text: '3. The spec (`leadladder train --ladder` reads the same file)' }),
      specText,
      el('div', { class: 'actions' },
        el('label', { class: 'file-button small' }, 'Use a spec file', specInput),
        specDownload)),
    el('fieldset', {},
      el('legend', { text: '4. Train' }),
      el('div', { class: 'actions' },
        el('label', { for: 'train-preset', text: 'Preset' }), preset,
        el('label', { for: 'train-seed', text: 'Seed' }), seed,
        start, cancel),
      el('div', { class: 'progress' }, bar, progressText),
      epochs),
    result,
  );

  const columnByName = (name) => (state.columns ? state.columns.columns.find((c) => c.name === name) : null);
  const roleOf = (name) => {
    const sel = roleGrid.querySelector(`select[data-column="${CSS.escape(name)}"]`);
    return sel ? sel.value : 'ignore';
  };

  function fillValues(select, column) {
    select.replaceChildren(...(column ? column.top : []).map(([v, n]) => el('option', { value: v, text: `${v} (${n})` })));
  }

  /** Shows `items` in `list`, each with a "remove" button; `line(item)` is its text. */
  function renderList(list, items, key, line) {
    list.replaceChildren(...items.map((item, i) => {
      const remove = el('button', { type: 'button', class: 'link-button', text: 'remove' });
      remove.addEventListener('click', () => {
        items.splice(i, 1);
        renderList(list, items, key, line);
      });
      return el('li', { [`data-${key}`]: item.name }, line(item), remove);
    }));
  }
  const renderRungs = () => renderList(rungList, state.rungs, 'rung', (r) => `${r.name}: ${r.text} (margin ${r.margin}) `);
  const renderTiers = () => renderList(tierList, state.tiers, 'tier', (t) => `${t.name}: ${t.text} `);

  /** One condition of the form (`equals` a value or `gte` a number) in the spec's shape. */
  function condition(what, r) {
    if (r.test === 'gte') {
      const t = Number(r.value);
      if (!Number.isFinite(t)) throw new Error(`${what}: “${r.value}” is not a number.`);
      return { column: r.column, gte: t };
    }
    return { column: r.column, equals: scalar(columnByName(r.column), r.value) };
  }

  /** Takes a checked spec's rungs and tiers into the form as they are written (their conditions
   * kept verbatim, shown in Rust's words), and its column roles and label into the selects. */
  function fillFromSpec(spec, info) {
    if (!state.columns) return;
    const role = new Map();
    const cols = spec.columns || {};
    for (const r of ['categorical', 'numeric', 'boolean', 'text', 'score', 'ignore']) for (const n of cols[r] || []) role.set(n, r);
    if (cols.id) role.set(cols.id, 'id');
    if (cols.created_at) role.set(cols.created_at, 'created_at');
    for (const sel of roleGrid.querySelectorAll('select[data-column]')) {
      sel.value = role.get(sel.dataset.column) || (info.outcomeColumns.includes(sel.dataset.column) ? 'outcome' : 'ignore');
    }
    const label = spec.label || {};
    if (typeof label.column === 'string' && columnByName(label.column) && label.equals !== undefined && Object.keys(label).length === 2) {
      labelColumn.value = label.column;
      fillValues(labelValue, columnByName(label.column));
      const v = String(label.equals);
      if (![...labelValue.options].some((o) => o.value === v)) labelValue.append(el('option', { value: v, text: v }));
      labelValue.value = v;
      state.label = null;
    } else {
      // A label the two selects cannot show (a range, a list, a combination) is kept as written.
      state.label = label;
      labelColumn.value = info.outcomeColumns[0] || labelColumn.value;
    }
    state.rungs = (spec.rung || []).map((r, i) => ({
      name: r.name, margin: r.margin, better: r.better, worse: r.worse,
      text: `${info.rungs[i].better} above ${info.rungs[i].worse}`,
    }));
    state.tiers = (spec.tier || []).map((t, i) => ({ name: t.name, when: t.when, text: info.tierRules[i] }));
    state.adopted = { name: spec.name, parse: spec.parse, columns: spec.columns };
    renderRungs();
    renderTiers();
  }

  function renderColumns() {
    const cols = state.columns.columns;
    roleGrid.replaceChildren(...cols.map((c) => {
      const id = `train-role-${cols.indexOf(c)}`;
      const select = el('select', { id, 'data-column': c.name }, ...ROLES.map((r) => el('option', { value: r, text: ROLE_LABELS[r] })));
      select.value = c.suggested;
      const sample = c.top.slice(0, 3).map(([v]) => (v.length > 24 ? `${v.slice(0, 24)}…` : v)).join(', ');
      return el('div', { class: 'row' }, el('label', { for: id, text: c.name, title: sample }), select);
    }));
    const options = () => cols.map((c) => el('option', { value: c.name, text: c.name }));
    labelColumn.replaceChildren(...options());
    rungColumn.replaceChildren(...options());
    tierColumn.replaceChildren(...options());
    // A first guess at the outcome: a column named like one, else the last short categorical one.
    const guess = cols.find((c) => /outcome|result|status|won|stage/i.test(c.name)) || cols[cols.length - 1];
    labelColumn.value = guess.name;
    fillValues(labelValue, guess);
    const win = guess.top.find(([v]) => /won|win|locked|closed|yes|true|bought|sold/i.test(v));
    if (win) labelValue.value = win[0];
    state.rungs = [];
    state.tiers = [];
    state.label = null;
    state.adopted = null;
    renderRungs();
    renderTiers();
  }

  /** The spec in its serde shape, from the form. */
  function specFromForm() {
    const cols = state.columns.columns;
    const columns = { id: '', created_at: '', categorical: [], numeric: [], boolean: [], text: [], score: [], ignore: [] };
    const label = labelColumn.value;
    for (const c of cols) {
      const role = roleOf(c.name);
      if (role === 'id' || role === 'created_at') {
        if (columns[role]) throw new Error(`Two columns are marked ${ROLE_LABELS[role]}: ${columns[role]} and ${c.name}.`);
        columns[role] = c.name;
      } else if (role !== 'outcome') columns[role].push(c.name);
    }
    if (state.adopted) {
      // A spec taken in keeps its column order (the order of the model's field tokens).
      for (const [r, list] of Object.entries(columns)) {
        if (!Array.isArray(list)) continue;
        const order = state.adopted.columns[r] || [];
        const at = (n) => (order.includes(n) ? order.indexOf(n) : order.length);
        list.sort((a, b) => at(a) - at(b));
      }
    }
    if (!columns.id) throw new Error('Mark the column that identifies a lead (Lead id).');
    if (!columns.created_at) throw new Error('Mark the column with the lead’s creation time (Created at): training splits by time.');
    const cond = state.label || { column: label, equals: scalar(columnByName(label), labelValue.value) };
    const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
    const rung = state.rungs.map(({ name, margin, better, worse }) => ({ name, margin, better, worse }));
    // The label's own rung comes first unless the rungs already hold it (a spec taken in).
    if (!rung.some((r) => same(r.better, cond))) rung.unshift({ name: 'won', margin: 1.0, better: cond, worse: { not: cond } });
    const tier = state.tiers.map(({ name, when }) => ({ name, when }));
    const name = state.adopted ? state.adopted.name : state.file ? state.file.name.replace(/\.[^.]*$/, '') : 'leads';
    const parse = state.adopted ? state.adopted.parse : { date_order: 'mdy', turn_separator: '\n' };
    return { name, columns, label: cond, rung, tier, parse };
  }

  async function checkSpec(text) {
    const checked = await trainer.readSpec(text);
    state.toml = text;
    status.textContent = `Spec ready: label ${checked.info.label}; ${checked.info.inputs.length} input columns; outcome columns ${checked.info.outcomeColumns.join(', ')}.`;
    return checked;
  }

  /** Checks a spec someone brought (a file, or text typed in the box) and shows it in the form. */
  async function adoptSpec(text) {
    status.textContent = 'Checking the spec…';
    const checked = await checkSpec(text);
    fillFromSpec(JSON.parse(checked.json), checked.info);
    return checked;
  }

  labelColumn.addEventListener('change', () => {
    state.label = null;
    fillValues(labelValue, columnByName(labelColumn.value));
  });
  labelValue.addEventListener('change', () => {
    state.label = null;
  });
  rungColumn.addEventListener('change', () => {
    const c = columnByName(rungColumn.value);
    rungTest.value = c && c.numeric && !c.boolean ? 'gte' : 'equals';
    rungValue.value = c && c.top.length ? c.top[0][0] : '';
  });
  addRung.addEventListener('click', act(async () => {
    const margin = Number(rungMargin.value);
    if (!rungValue.value.trim()) throw new Error('Give the rung a value or a threshold.');
    if (!(margin >= 0)) throw new Error('A rung’s margin is a number ≥ 0.');
    const name = `${rungColumn.value}_${rungTest.value === 'gte' ? 'at_least' : 'is'}_${rungValue.value.trim()}`.replace(/[^\w.-]+/g, '_');
    const better = condition(`Rung ${name}`, { column: rungColumn.value, test: rungTest.value, value: rungValue.value.trim() });
    const worse = rungTest.value === 'gte' ? { column: rungColumn.value, lt: better.gte } : { not: better };
    const test = rungTest.value === 'gte' ? `≥ ${better.gte}` : `= ${rungValue.value.trim()}`;
    state.rungs.push({ name, margin, better, worse, text: `${rungColumn.value} ${test} above the rest` });
    renderRungs();
  }));
  tierColumn.addEventListener('change', () => {
    const c = columnByName(tierColumn.value);
    tierTest.value = c && c.numeric && !c.boolean ? 'gte' : 'equals';
    tierValue.value = c && c.top.length ? c.top[0][0] : '';
  });
  addTier.addEventListener('click', act(async () => {
    if (!tierValue.value.trim()) throw new Error('Give the tier a value or a threshold.');
    const name = `${tierColumn.value}_${tierTest.value === 'gte' ? 'at_least' : 'is'}_${tierValue.value.trim()}`.replace(/[^\w.-]+/g, '_');
    const when = condition(`Tier ${name}`, { column: tierColumn.value, test: tierTest.value, value: tierValue.value.trim() });
    state.tiers.push({ name, when, text: `${tierColumn.value} ${tierTest.value === 'gte' ? `≥ ${when.gte}` : `= ${tierValue.value.trim()}`}` });
    renderTiers();
  }));
  buildButton.addEventListener('click', act(async () => {
    specText.value = await trainer.specToToml(specFromForm());
    await checkSpec(specText.value);
  }));
  specInput.addEventListener('change', act(async () => {
    const f = specInput.files && specInput.files[0];
    specInput.value = '';
    if (!f) return;
    specText.value = await f.text();
    await adoptSpec(specText.value);
  }));
  specText.addEventListener('input', () => {
    state.toml = null;
  });
  specDownload.addEventListener('click', act(async () => {
    await checkSpec(specText.value);
    download(`${(state.file && state.file.name.replace(/\.[^.]*$/, '')) || 'leads'}.toml`, new Blob([specText.value], { type: 'application/toml' }));
  }));

  start.addEventListener('click', act(async () => {
    const file = csvFile();
    if (!file) throw new Error('Load a CSV first.');
    if (file.size > MAX_TRAIN_BYTES) {
      host.dataset.training = 'refused';
      throw new Error(`${file.name} is ${mib(file.size)}: the page trains on files up to ${mib(MAX_TRAIN_BYTES)} (the trainer keeps the leads and their tokens in this tab's memory). Train on it with \`leadladder train --input ${file.name} --ladder spec.toml --out model.safetensors\` (the spec can be downloaded here), then drop the model on this page.`);
    }
    await checkSpec(specText.value);
    const abort = new AbortController();
    state.running = abort;
    start.disabled = true;
    cancel.hidden = false;
    result.hidden = true;
    epochs.replaceChildren();
    bar.value = 0;
    host.dataset.training = 'running';
    const meter = new ProgressMeter();
    try {
      const r = await trainer.train(file, specText.value, { preset: preset.value, seed: Number(seed.value) || 0 }, {
        signal: abort.signal,
        onProgress: (e) => {
          const m = meter.feed(e);
          if (e.kind === 'stage') progressText.textContent = e.text;
          else if (e.kind === 'step') {
            bar.max = e.total;
            bar.value = e.step;
            const model = m.members > 1 ? `model ${m.member + 1} of ${m.members}, ` : '';
            progressText.textContent = `${model}step ${e.step} of ${e.total}, loss ${e.loss.toFixed(4)}${m.tokensPerS ? `, ${Math.round(m.tokensPerS).toLocaleString('en-US')} tokens/s` : ''}${m.etaSeconds != null ? `, about ${fmtSeconds(m.etaSeconds)} left` : ''}; memory ${mib(e.memoryBytes)}`;
          } else if (e.kind === 'epoch') {
            epochs.append(el('li', { text: `${e.member ? `model ${e.member + 1}, ` : ''}epoch ${e.epoch + 1}: loss ${e.train_loss.toFixed(4)}, validation AUC ${e.val_auc.toFixed(3)}, ${Math.round(e.tokens_per_s).toLocaleString('en-US')} tokens/s, ${Math.round(e.seconds)} s` }));
          }
        },
      });
      state.result = r;
      progressText.textContent = `Done: ${r.leads.toLocaleString('en-US')} leads in ${fmtSeconds(r.seconds)}.`;
      showResult(r);
      host.dataset.training = 'done';
    } catch (e) {
      if (e instanceof TrainCancelled) {
        progressText.textContent = 'Cancelled. Nothing was kept.';
        host.dataset.training = 'cancelled';
      } else {
        host.dataset.training = 'failed';
        throw e;
      }
    } finally {
      state.running = null;
      start.disabled = false;
      cancel.hidden = true;
    }
  }));
  cancel.addEventListener('click', () => {
    if (state.running) state.running.abort();
  });

  function showResult(r) {
    const name = `${(state.file && state.file.name.replace(/\.[^.]*$/, '')) || 'leads'}.${preset.value}.safetensors`;
    const useNow = el('button', { type: 'button', id: 'train-use', class: 'primary', text: 'Rank with this model now' });
    const getModel = el('button', { type: 'button', id: 'train-download', text: 'Download model (.safetensors)' });
    const getReport = el('button', { type: 'button', id: 'train-download-report', text: 'Download report (.md)' });
    const kept = el('p', { id: 'train-kept', class: 'muted' });
    const guard = el('ul', { id: 'train-guard', class: 'drift-warnings' }, ...r.guard.map((g) => el('li', { text: g })));
    result.replaceChildren(
      el('h3', { text: `Trained on ${r.leads.toLocaleString('en-US')} leads in ${fmtSeconds(r.seconds)} (${Math.round(r.tokensPerS).toLocaleString('en-US')} tokens/s, peak memory ${mib(r.memoryBytes)})` }),
      guard,
      el('div', { class: 'actions' }, useNow, getModel, getReport),
      kept,
      el('h3', { text: 'Test-period report' }),
      el('pre', { id: 'train-report', class: 'train-report', text: r.reportMarkdown }),
    );
    result.hidden = false;
    useNow.addEventListener('click', act(async () => {
      await useBundle(new File([r.bundle], name, { type: 'application/octet-stream' }));
      status.textContent = `Ranking with ${name}.`;
    }));
    getModel.addEventListener('click', () => download(name, new Blob([r.bundle], { type: 'application/octet-stream' })));
    getReport.addEventListener('click', () => download(name.replace(/\.safetensors$/, '.report.md'), new Blob([r.reportMarkdown], { type: 'text/markdown' })));
    keep(r.bundle, name, r.reportMarkdown).then(
      (ok) => {
        kept.textContent = ok ? 'Kept in this browser: the page offers it again on your next visit.' : '';
      },
      () => {
        kept.textContent = 'This browser would not keep the model; download it to use it again.';
      },
    );
  }

  async function load(file) {
    state.file = file;
    status.textContent = `Reading the columns of ${file.name}…`;
    state.columns = await trainer.inspect(file);
    renderColumns();
    status.textContent = `${file.name}: ${state.columns.rows.toLocaleString('en-US')} rows, ${state.columns.columns.length} columns. Mark the columns, the outcome and the rungs, or use a spec file.`;
  }

  const file = csvFile();
  const ready = file ? act(load)(file) : Promise.resolve((status.textContent = 'Load a CSV first.'));
  return { ready, trainer, load: act(load) };
}
