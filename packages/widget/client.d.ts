// Types of leadladder's headless API (`leadladder/ranker`, also exported by `leadladder`).

/** Where the model runs: WebGPU when the browser has a hardware adapter, else the CPU build. */
export type Device = 'auto' | 'cpu' | 'gpu';

/** A lead CSV: text, lead objects keyed by column name, a File/Blob, or its bytes. */
export type Leads = string | ReadonlyArray<Record<string, unknown>> | Blob | Uint8Array | ArrayBuffer;

/** A model bundle: its URL (same origin), a File/Blob, or its bytes. */
export type ModelSource = string | URL | Blob | Uint8Array | ArrayBuffer;

export type Grade = 'A' | 'B' | 'C' | 'D';

export interface ModelProgress {
  phase: 'model';
  done: number;
  total: number | null;
  source: 'network' | 'cache' | 'file';
}
export interface ScoreProgress {
  phase: 'score';
  done: number;
  total: number;
  leadsPerSec: number;
  etaSeconds: number;
}
export interface ExplainProgress {
  phase: 'explain';
  done: number;
  total: number;
}
export type Progress = ModelProgress | ScoreProgress | ExplainProgress;

export interface CreateRankerOptions {
  /** Default: the demo model, `${assetsUrl}models/demo.int8.safetensors`. */
  model?: ModelSource;
  /** Default 'auto'. */
  device?: Device;
  /** Where worker.js, pkg/ and models/ are served (same origin). Default: the folder of the module. */
  assetsUrl?: string | URL;
  /** Workers scoring on the CPU build (default one per core, at most 8). */
  workers?: number;
  /** Start even where no Content-Security-Policy binds the worker (the page guards the network itself). */
  allowNoPolicy?: boolean;
  onProgress?: (progress: ModelProgress) => void;
  signal?: AbortSignal;
}

export interface RankOptions {
  onProgress?: (progress: ScoreProgress | ExplainProgress) => void;
  signal?: AbortSignal;
  /** Reasons for the top N leads (default 10, as `leadladder rank`). */
  explain?: number;
  /** Factors per explained lead (default 3). */
  reasons?: number;
  /** CSV column for each column the model reads: { specColumn: csvColumn }. */
  mapping?: Record<string, string> | null;
  /** 'skip' (default): bad rows are skipped and listed; 'strict': the first bad row fails. */
  onError?: 'skip' | 'strict';
}

export interface AuditOptions extends RankOptions {
  /** The P@K percentages (default 1, 5, 10, 20, 30, 50). */
  k?: number[];
}

export interface Reason {
  /** The column name, or `dialogue turn N: "…"`. */
  factor: string;
  kind: 'field' | 'turn';
  /** How much the factor moves the lead's score. */
  delta: number;
}

export interface RankedRow {
  /** 1 = call first. */
  rank: number;
  id: string;
  /** The rank score (the export's `score`). */
  score: number;
  /** Probability of buying (the export's `p_convert`). */
  pConvert: number;
  grade: Grade;
  /** For the top `explain` leads; null for the others. */
  reasons: Reason[] | null;
  /** The lead's row among the rows read (skipped rows not counted). */
  index: number;
  /** The object given to rank(), when the leads came as objects and none was skipped. */
  lead: Record<string, unknown> | null;
  /** Filled by <lead-ladder> for the CSV columns it shows. */
  cells?: Record<string, string>;
}

export interface DriftCheck {
  available: boolean;
  summary: string;
  warnings: string[];
  [key: string]: unknown;
}

export interface LoadReport {
  rows: number;
  skipped: number;
  skippedReasons: string[];
  encoding: string;
  delimiter: string;
  header: string[];
  unusedColumns: string[];
  hasOutcomes: boolean;
  formulaCells: number;
  drift: DriftCheck;
}

export interface DeviceInfo {
  build: { name: 'gpu' | 'cpu'; reason: string; policy: string; softwareAdapter?: boolean };
  device: {
    backend: 'webgpu' | 'cpu';
    adapter: string | null;
    fallbackReason: string | null;
    limits: Record<string, number> | null;
  } | null;
  speed: { leads: number; seconds: number; leadsPerSec: number; workers: number } | null;
  helpers: unknown;
}

export interface RankResult {
  /** Best first. */
  rows: RankedRow[];
  report: LoadReport;
  skipped: number;
  drift: DriftCheck;
  device: DeviceInfo;
  /** The ranked CSV (every input column + rank, score, p_convert, grade, reasons), the same bytes as `leadladder rank`. */
  toCsv(): Promise<Blob>;
  /** The CSV cells of the lead at `index`, keyed by header. */
  cells(index: number): Promise<Record<string, string>>;
}

export interface AuditMethod {
  name: string;
  model: boolean;
  auc: number;
  atK: { k: number; precision: number; lift: number; hits: number }[];
}
export interface AuditResult {
  n: number;
  positives: number;
  methods: AuditMethod[];
  curve: { name: string; model: boolean; points: { k: number; precision: number; lift: number }[] }[];
}

export interface BundleInfo {
  format: string;
  bytes: number;
  dtype: 'f32' | 'f16' | 'int8';
  parameters: number;
  maxTokens: number;
  vocabSize: number;
  promptVersion: string;
  spec: {
    name: string;
    id: string;
    createdAt: string;
    categorical: string[];
    numeric: string[];
    boolean: string[];
    text: string[];
    inputs: string[];
    score: string[];
    outcomeColumns: string[];
    label: string;
    tiers: string[];
    /** Each tier's rule in words, in the order of `tiers`. */
    tierRules: string[];
    /** The ladder's rungs, highest first, their conditions in words. */
    rungs: { name: string; margin: number; better: string; worse: string }[];
  };
  metrics: unknown;
  provenance: unknown;
  driftProfileLeads: number | null;
  driftFields: string[];
  guard: { status: 'passed' | 'worse' | 'not_run'; message: string; [key: string]: unknown } | null;
}

export interface LoadedModel extends DeviceInfo {
  bundle: BundleInfo;
  cached: boolean;
  source: 'network' | 'cache' | 'file' | 'bytes';
  /** What to tell the user (e.g. the model could not be kept in the browser's storage). */
  notes: string[];
  loadSeconds: number;
}

export declare class Ranker {
  private constructor();
  readonly engine: { build: { name: 'gpu' | 'cpu'; reason: string; policy: string }; version: string; hasWebGpuBuild: boolean };
  readonly model: LoadedModel;
  rank(leads: Leads, options?: RankOptions): Promise<RankResult>;
  /** The audit of the last ranked leads. */
  audit(options?: AuditOptions): Promise<AuditResult>;
  /** Ranks `leads` (without reasons), then audits them. */
  audit(leads: Leads, options?: AuditOptions): Promise<AuditResult>;
  dispose(): void;
}

export declare function createRanker(options?: CreateRankerOptions): Promise<Ranker>;

/** The assets folder as an absolute URL ending in '/'. */
export declare function assetsBase(assetsUrl?: string | URL): string;

/** CSV text for lead objects (header: the union of their keys, in first-seen order). */
export declare function objectsToCsv(leads: ReadonlyArray<Record<string, unknown>>): string;

export interface LeadLadderErrorOptions {
  kind?: 'memory' | null;
  cause?: unknown;
}

/** Every failure of the ranker; `message` is the engine's own. */
export declare class LeadLadderError extends Error {
  constructor(message: string, options?: LeadLadderErrorOptions);
  /** 'memory' when the model or the file cannot be held in WebAssembly memory. */
  readonly kind: 'memory' | null;
}
/** The page's Content-Security-Policy forbids what the engine needs, or none binds the worker. */
export declare class PolicyError extends LeadLadderError {
  constructor(message: string, options?: LeadLadderErrorOptions & { directive?: string });
  /** What to add to the policy, e.g. "worker-src 'self' blob:". */
  readonly directive: string | null;
}
/** The engine could not start, stopped, or was disposed. */
export declare class EngineError extends LeadLadderError {}
/** The model could not be downloaded, read or built. */
export declare class ModelError extends LeadLadderError {}
/** The leads could not be read (the message names the row, column and value). */
export declare class CsvError extends LeadLadderError {}
/** Scoring, explaining, exporting or auditing failed. */
export declare class RankError extends LeadLadderError {}
