// <lead-ladder model="models/demo.int8.safetensors"> — ranks leads inside any page.
//
//   const el = document.querySelector('lead-ladder');
//   const result = await el.rank(leads, { signal });  // CSV text, lead objects, a File or bytes
//   el.addEventListener('ranked', (e) => e.detail.rows);
//
// Attributes: model, device (auto|cpu|gpu), assets-url, rows (how many to show, default 10; `show`
// is the older name), columns (comma-separated: rank, grade, id, score, p_convert, reasons or any
// CSV column; default "rank,grade,id,p_convert"), lang (en|zh; else the page's), allow-no-policy.
// Events (bubbling, composed): `progress` ({ phase, done, total }), `ranked` (the rank() result),
// `rank-error` ({ error, message }). Texts: the `texts` property overrides the built-in ones.
// Theming: CSS custom properties --leadladder-* and the parts listed in lead-ladder.css.
//
// Scoring runs in the same Web Worker as the full page (web/worker.js), through createRanker
// (client.js). The shadow DOM shows a compact ranked list; all lead text goes in through
// textContent.

import { createRanker, assetsBase } from '../client.js';

/** The built-in texts. `{name}` marks a value put in. */
export const TEXTS = {
  en: {
    title: 'Call first',
    ready: 'Ready to rank.',
    loadingModel: 'Loading the model…',
    loadingModelBytes: 'Loading the model… {done} of {total} KB',
    ranking: 'Ranking {done} of {total} leads…',
    explaining: 'Finding the reasons for the top leads…',
    ranked: '{count} leads ranked.',
    rankedSkipped: '{count} leads ranked, {skipped} skipped.',
    cancelled: 'Ranking cancelled.',
    failed: 'Could not rank: {message}',
    listLabel: 'Ranked leads',
    columns: { rank: '#', grade: 'Grade', id: 'Lead', score: 'Score', p_convert: 'P(buy)', reasons: 'Why' },
  },
  zh: {
    title: '优先联系',
    ready: '可以排序。',
    loadingModel: '正在加载模型…',
    loadingModelBytes: '正在加载模型… {done} / {total} KB',
    ranking: '正在排序：{done} / {total} 条线索…',
    explaining: '正在分析排名靠前线索的原因…',
    ranked: '已排序 {count} 条线索。',
    rankedSkipped: '已排序 {count} 条线索，跳过 {skipped} 条。',
    cancelled: '已取消排序。',
    failed: '无法排序：{message}',
    listLabel: '排序后的线索',
    columns: { rank: '名次', grade: '等级', id: '线索', score: '得分', p_convert: '成交概率', reasons: '原因' },
  },
};

const DEFAULT_COLUMNS = ['rank', 'grade', 'id', 'p_convert'];
const BUILT_IN = new Set(['rank', 'grade', 'id', 'score', 'p_convert', 'reasons']);
const WIDTHS = { rank: '2.2rem', grade: '1.6rem', id: 'minmax(0, 1fr)', score: '4.2rem', p_convert: '4.2rem', reasons: 'minmax(0, 2fr)' };

function fill(text, values) {
  return String(text).replace(/\{(\w+)\}/g, (m, k) => (k in values ? String(values[k]) : m));
}

function reasonsText(reasons) {
  if (!reasons) return '';
  return reasons.map((r) => `${r.factor} (${r.delta >= 0 ? '+' : ''}${r.delta.toFixed(2)})`).join('; ');
}

export class LeadLadder extends HTMLElement {
  static get observedAttributes() {
    return ['model', 'device', 'assets-url', 'allow-no-policy', 'rows', 'show', 'columns', 'lang'];
  }

  #ranker = null; // Promise<Ranker>
  #texts = null; // the `texts` property
  #result = null; // the last rank() result
  #lastStatus = ['ready', {}];
  #root;
  #style;
  #title;
  #status;
  #head;
  #list;

  constructor() {
    super();
    this.#root = this.attachShadow({ mode: 'open' });
    this.#style = document.createElement('link');
    this.#style.rel = 'stylesheet';
    this.#title = this.#part('p', 'title');
    this.#status = this.#part('p', 'status');
    this.#status.setAttribute('role', 'status');
    this.#head = this.#part('div', 'head');
    this.#head.setAttribute('aria-hidden', 'true');
    this.#list = this.#part('ol', 'list');
    this.#root.append(this.#style, this.#title, this.#status, this.#head, this.#list);
    this.#refresh();
  }

  #part(tag, name) {
    const el = document.createElement(tag);
    el.className = name;
    el.setAttribute('part', name);
    return el;
  }

  /** The texts in use: the built-in ones of `lang`, with the `texts` property over them. */
  get texts() {
    const lang = (this.closest('[lang]')?.getAttribute('lang') || document.documentElement.lang || 'en').toLowerCase();
    const base = TEXTS[lang.split('-')[0]] || TEXTS.en;
    const own = this.#texts || {};
    return { ...base, ...own, columns: { ...base.columns, ...(own.columns || {}) } };
  }

  set texts(value) {
    this.#texts = value && typeof value === 'object' ? value : null;
    this.#refresh();
  }

  /** The columns shown, from the `columns` attribute. */
  get columns() {
    const attr = this.getAttribute('columns');
    const list = attr ? attr.split(',').map((c) => c.trim()).filter(Boolean) : [];
    return list.length ? list : DEFAULT_COLUMNS;
  }

  /** How many rows are shown, from the `rows` attribute (or `show`), default 10. */
  get rowsShown() {
    const n = Number(this.getAttribute('rows') ?? this.getAttribute('show'));
    return Number.isInteger(n) && n > 0 ? n : 10;
  }

  /** The last rank() result, or null. */
  get result() {
    return this.#result;
  }

  attributeChangedCallback(name) {
    if (['model', 'device', 'assets-url', 'allow-no-policy'].includes(name)) {
      // A new model, device or place takes effect at the next rank().
      this.#dispose();
    }
    this.#refresh();
  }

  connectedCallback() {
    this.#refresh(); // the page's lang is known now
  }

  disconnectedCallback() {
    this.#dispose();
  }

  #dispose() {
    const old = this.#ranker;
    this.#ranker = null;
    if (old) old.then((r) => r.dispose(), () => undefined);
  }

  #setStatus(key, values = {}) {
    this.#lastStatus = [key, values];
    this.#status.textContent = fill(this.texts[key], values);
  }

  #refresh() {
    const base = assetsBase(this.getAttribute('assets-url') || undefined);
    const css = new URL('widget/lead-ladder.css', base).href;
    if (this.#style.href !== css) this.#style.href = css;
    const texts = this.texts;
    this.#title.textContent = texts.title;
    this.#list.setAttribute('aria-label', texts.listLabel);
    const [key, values] = this.#lastStatus;
    this.#status.textContent = fill(texts[key], values);
    this.#render();
  }

  #ensureRanker() {
    if (!this.#ranker) {
      const attr = this.getAttribute('model');
      const device = this.getAttribute('device');
      const made = createRanker({
        model: attr ? new URL(attr, document.baseURI).href : undefined,
        device: device === 'cpu' || device === 'gpu' ? device : 'auto',
        assetsUrl: this.getAttribute('assets-url') || undefined,
        allowNoPolicy: this.hasAttribute('allow-no-policy'),
        onProgress: (p) => this.#progress(p),
      });
      this.#ranker = made;
      made.catch(() => {
        if (this.#ranker === made) this.#ranker = null;
      });
    }
    return this.#ranker;
  }

  #progress(p) {
    if (p.phase === 'model') {
      if (p.total) this.#setStatus('loadingModelBytes', { done: Math.round(p.done / 1024), total: Math.round(p.total / 1024) });
    } else if (p.phase === 'score') this.#setStatus('ranking', { done: p.done, total: p.total });
    else if (p.phase === 'explain' && p.done < p.total) this.#setStatus('explaining');
    this.dispatchEvent(new CustomEvent('progress', { detail: p, bubbles: true, composed: true }));
  }

  /**
   * Ranks leads (CSV text, an array of objects keyed by column name, a File/Blob or bytes) and
   * resolves to the ranker's result ({ rows, report, device, toCsv(), cells() }: see client.js).
   * Options as Ranker.rank (signal, explain, reasons, mapping, onError); reasons are found for
   * the rows shown when the reasons column is, else as `explain` says (default 10).
   * Dispatches `ranked` with the result, or `rank-error` with { error, message }.
   */
  async rank(leads, options = {}) {
    try {
      this.#setStatus('loadingModel');
      const ranker = await this.#ensureRanker();
      const explain = options.explain ?? (this.columns.includes('reasons') ? Math.max(10, this.rowsShown) : 10);
      const result = await ranker.rank(leads, { ...options, explain, onProgress: (p) => this.#progress(p) });
      this.#result = result;
      await this.#fetchCells(result);
      this.#setStatus(result.skipped ? 'rankedSkipped' : 'ranked', { count: result.rows.length, skipped: result.skipped });
      this.#render();
      this.dispatchEvent(new CustomEvent('ranked', { detail: result, bubbles: true, composed: true }));
      return result;
    } catch (e) {
      if (e && e.name === 'AbortError') {
        this.#setStatus('cancelled');
        throw e;
      }
      const message = e instanceof Error ? e.message : String(e);
      this.#setStatus('failed', { message });
      this.dispatchEvent(new CustomEvent('rank-error', { detail: { error: e, message }, bubbles: true, composed: true }));
      throw e;
    }
  }

  /** Cells of the CSV columns shown, for the rows shown when the leads came as CSV. */
  async #fetchCells(result) {
    const extra = this.columns.filter((c) => !BUILT_IN.has(c));
    if (!extra.length) return;
    for (const row of result.rows.slice(0, this.rowsShown)) {
      if (!row.lead && !row.cells) row.cells = await result.cells(row.index);
    }
  }

  #render() {
    const columns = this.columns;
    const texts = this.texts;
    const grid = columns.map((c) => WIDTHS[c] || 'minmax(0, 1fr)').join(' ');
    this.#head.style.setProperty('--leadladder-grid', grid);
    this.#list.style.setProperty('--leadladder-grid', grid);
    this.#head.replaceChildren(
      ...columns.map((c) => {
        const span = document.createElement('span');
        span.setAttribute('part', `head-cell head-${BUILT_IN.has(c) ? c.replace('_', '-') : 'field'}`);
        span.textContent = texts.columns[c] ?? c;
        return span;
      }),
    );
    this.#head.hidden = !this.#result;
    if (!this.#result) {
      this.#list.replaceChildren();
      return;
    }
    const items = this.#result.rows.slice(0, this.rowsShown).map((r) => {
      const li = document.createElement('li');
      li.setAttribute('part', `row row-${r.grade}`);
      li.dataset.rank = String(r.rank);
      li.dataset.id = r.id;
      for (const c of columns) {
        const span = document.createElement('span');
        let text;
        if (c === 'rank') text = String(r.rank);
        else if (c === 'grade') text = r.grade;
        else if (c === 'id') text = r.id;
        else if (c === 'score') text = r.score.toFixed(3);
        else if (c === 'p_convert') text = `${(r.pConvert * 100).toFixed(1)}%`;
        else if (c === 'reasons') text = reasonsText(r.reasons);
        else text = String((r.lead && r.lead[c]) ?? (r.cells && r.cells[c]) ?? '');
        const name = BUILT_IN.has(c) ? c.replace('_', '-') : 'field';
        span.className = `cell ${name}${c === 'grade' ? ` grade-${r.grade}` : ''}`;
        span.setAttribute('part', `cell cell-${name}${c === 'grade' ? ` grade-${r.grade}` : ''}`);
        if (!BUILT_IN.has(c)) span.dataset.column = c;
        span.textContent = text;
        if (c === 'reasons' || c === 'id' || !BUILT_IN.has(c)) span.title = text;
        li.append(span);
      }
      return li;
    });
    this.#list.replaceChildren(...items);
  }
}

if (!customElements.get('lead-ladder')) customElements.define('lead-ladder', LeadLadder);
