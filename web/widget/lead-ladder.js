// <lead-ladder model="models/demo.int8.safetensors"> — ranks leads inside any page.
//
//   const el = document.querySelector('lead-ladder');
//   const result = await el.rank(leads);         // leads: array of objects, or CSV text
//   el.addEventListener('ranked', (e) => e.detail.ranking);
//
// Scoring runs in the same Web Worker as the full page (web/worker.js). The shadow DOM shows a
// compact ranked list; all lead text goes in through textContent.

import { RankerClient, objectsToCsv } from '../client.js';

const STYLE_URL = new URL('./lead-ladder.css', import.meta.url).href;
const DEFAULT_MODEL = new URL('../models/demo.int8.safetensors', import.meta.url).href;

export class LeadLadder extends HTMLElement {
  static get observedAttributes() {
    return ['model', 'device'];
  }

  #client = null;
  #modelUrl = null;
  #modelReady = null;
  #root;
  #status;
  #list;

  constructor() {
    super();
    this.#root = this.attachShadow({ mode: 'open' });
    const link = document.createElement('link');
    link.rel = 'stylesheet';
    link.href = STYLE_URL;
    const title = document.createElement('p');
    title.className = 'title';
    title.textContent = 'Call first';
    this.#status = document.createElement('p');
    this.#status.className = 'status';
    this.#status.setAttribute('role', 'status');
    this.#status.textContent = 'Ready to rank.';
    this.#list = document.createElement('ol');
    this.#list.className = 'list';
    this.#list.setAttribute('aria-label', 'Ranked leads');
    this.#root.append(link, title, this.#status, this.#list);
  }

  attributeChangedCallback() {
    // A new model or device takes effect at the next rank().
    this.#modelReady = null;
    if (this.#client) {
      this.#client.terminate();
      this.#client = null;
    }
  }

  disconnectedCallback() {
    if (this.#client) {
      this.#client.terminate();
      this.#client = null;
      this.#modelReady = null;
    }
  }

  #ensureModel() {
    const attr = this.getAttribute('model');
    const url = attr ? new URL(attr, document.baseURI).href : DEFAULT_MODEL;
    if (!this.#client) {
      const device = this.getAttribute('device');
      this.#client = new RankerClient({
        device: device === 'cpu' || device === 'gpu' ? device : 'auto',
        allowNoPolicy: this.hasAttribute('allow-no-policy'),
      });
    }
    if (!this.#modelReady || this.#modelUrl !== url) {
      this.#modelUrl = url;
      this.#modelReady = this.#client.loadModelUrl(url).catch((e) => {
        this.#modelReady = null;
        throw e;
      });
    }
    return this.#modelReady;
  }

  /**
   * Ranks leads (an array of objects keyed by column name, or CSV text) and resolves to
   * { ranking: [{ rank, id, score, pConvert, grade, index, lead }], report, device }; report.drift
   * is the drift check of the leads against the model's training data (see crates/wasm/API.md).
   * Dispatches a `ranked` CustomEvent with the same detail. Rows that cannot be read are skipped
   * and listed in report.skippedReasons.
   */
  async rank(leads) {
    try {
      let csv;
      let objects = null;
      if (typeof leads === 'string') csv = leads;
      else if (Array.isArray(leads)) {
        objects = leads;
        csv = objectsToCsv(leads);
      } else throw new Error('rank() takes an array of lead objects or CSV text.');
      this.#status.textContent = 'Loading the model…';
      await this.#ensureModel();
      const client = this.#client;
      const report = await client.loadCsv(new TextEncoder().encode(csv), null, 'skip');
      await client.score((p) => {
        this.#status.textContent = `Ranking ${p.done} of ${p.total} leads…`;
      });
      const ranked = await client.ranking();
      const device = await client.deviceInfo();
      const ranking = ranked.map((r) => ({ ...r, lead: objects ? objects[r.index] ?? null : null }));
      this.#render(ranking, report);
      const detail = { ranking, report, device };
      this.dispatchEvent(new CustomEvent('ranked', { detail, bubbles: true, composed: true }));
      return detail;
    } catch (e) {
      this.#status.textContent = `Could not rank: ${e instanceof Error ? e.message : String(e)}`;
      this.dispatchEvent(new CustomEvent('rank-error', { detail: { message: this.#status.textContent }, bubbles: true, composed: true }));
      throw e;
    }
  }

  #render(ranking, report) {
    const limit = Number(this.getAttribute('show')) || 10;
    this.#status.textContent = `${ranking.length} leads ranked${report.skipped ? `, ${report.skipped} skipped` : ''}.`;
    const items = ranking.slice(0, limit).map((r) => {
      const li = document.createElement('li');
      li.dataset.rank = String(r.rank);
      const grade = document.createElement('span');
      grade.className = `grade grade-${r.grade}`;
      grade.textContent = r.grade;
      const id = document.createElement('span');
      id.className = 'id';
      id.textContent = r.id;
      const p = document.createElement('span');
      p.className = 'p';
      p.textContent = `${(r.pConvert * 100).toFixed(1)}%`;
      li.append(grade, id, p);
      return li;
    });
    this.#list.replaceChildren(...items);
  }
}

if (!customElements.get('lead-ladder')) customElements.define('lead-ladder', LeadLadder);
