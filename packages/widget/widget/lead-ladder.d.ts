// Types of the <lead-ladder> element (`leadladder/element`, also exported by `leadladder`).
import type { Leads, RankOptions, RankResult, Progress } from '../client.js';

export interface LeadLadderTexts {
  title: string;
  ready: string;
  loadingModel: string;
  /** {done} and {total} in KB. */
  loadingModelBytes: string;
  /** {done}, {total}. */
  ranking: string;
  explaining: string;
  /** {count}. */
  ranked: string;
  /** {count}, {skipped}. */
  rankedSkipped: string;
  cancelled: string;
  /** {message}. */
  failed: string;
  listLabel: string;
  /** Column headings by column name. */
  columns: Record<string, string>;
}

export type LeadLadderTextsOverride = Partial<Omit<LeadLadderTexts, 'columns'>> & { columns?: Record<string, string> };

/** The built-in texts, English and Chinese. */
export declare const TEXTS: { en: LeadLadderTexts; zh: LeadLadderTexts };

export interface RankErrorDetail {
  error: unknown;
  message: string;
}

/** The element's events, with those of every HTMLElement (its `progress` replaces the media one). */
export interface LeadLadderEventMap extends Omit<HTMLElementEventMap, 'progress'> {
  progress: CustomEvent<Progress>;
  ranked: CustomEvent<RankResult>;
  'rank-error': CustomEvent<RankErrorDetail>;
}

export declare class LeadLadder extends HTMLElement {
  static readonly observedAttributes: string[];
  /** The texts in use; set a partial object to override the built-in ones of the element's language. */
  get texts(): LeadLadderTexts;
  set texts(value: LeadLadderTextsOverride | null);
  /** The columns shown (the `columns` attribute). */
  readonly columns: string[];
  /** How many rows are shown (the `rows` attribute, default 10). */
  readonly rowsShown: number;
  /** The last rank() result, or null. */
  readonly result: RankResult | null;
  rank(leads: Leads, options?: RankOptions): Promise<RankResult>;
  addEventListener<K extends keyof LeadLadderEventMap>(type: K, listener: (this: LeadLadder, ev: LeadLadderEventMap[K]) => unknown, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject, options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof LeadLadderEventMap>(type: K, listener: (this: LeadLadder, ev: LeadLadderEventMap[K]) => unknown, options?: boolean | EventListenerOptions): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject, options?: boolean | EventListenerOptions): void;
}

declare global {
  interface HTMLElementTagNameMap {
    'lead-ladder': LeadLadder;
  }
}
