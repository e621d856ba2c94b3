/* tslint:disable */
/* eslint-disable */

/**
 * A model file written into wasm memory a chunk at a time, so the page never holds the whole
 * file in JavaScript (see API.md): `new ModelBuffer(size)`, `write(chunk)` until `written`
 * equals the size, then `Scorer.createFromBuffer(buffer, …)`.
 */
export class ModelBuffer {
    free(): void;
    [Symbol.dispose](): void;
    /**
     * Sets aside `total_bytes` of wasm memory; throws, naming the size, when it cannot.
     */
    constructor(total_bytes: number);
    /**
     * Appends a chunk of the file.
     */
    write(chunk: Uint8Array | number[]): void;
    /**
     * Bytes written so far.
     */
    readonly written: number;
}

/**
 * A bundle loaded onto WebGPU or the CPU, plus the loaded file.
 */
export class Scorer {
    private constructor();
    free(): void;
    [Symbol.dispose](): void;
    /**
     * P@K of the model vs recency, the hand tier sort and existing scores (files with outcomes).
     */
    audit(k_percents: Float64Array | number[]): any;
    bundleInfo(): any;
    /**
     * [`Scorer::create`] from a [`ModelBuffer`] the page filled a chunk at a time (the buffer is
     * consumed: its memory becomes the model's).
     */
    static createFromBuffer(buffer: ModelBuffer, prefer_gpu: boolean, options: any): Promise<Scorer>;
    /**
     * Builds the model on WebGPU when asked and possible, else on the CPU (never throws for a
     * missing GPU; `deviceInfo().fallbackReason` says why). Throws on a bad bundle. The bundle
     * is parsed once, whichever device it lands on.
     *
     * `options` (optional): `{ maxBindingBytes }`, see API.md.
     */
    static create(bundle_bytes: Uint8Array | number[], prefer_gpu: boolean, options: any): Promise<Scorer>;
    deviceInfo(): any;
    /**
     * How far the loaded file lies from the model's training data, checked while it was read:
     * the drift report with `available: true`, or `{ available: false, summary, warnings: [] }`
     * for a bundle without a drift profile. See API.md.
     */
    drift(): any;
    /**
     * Occlusion reasons for the given leads; they also go into the export.
     */
    explain(indices: Uint32Array | number[], top_n: number): Promise<any>;
    /**
     * Part of the ranked CSV: the header line when `start` is 0, then the leads at queue
     * positions `[start, end)` (0-based, clamped). Parts in order give `exportCsv()`'s text, so
     * an export can stream without the whole file in one string.
     */
    exportCsvPart(start: number, end: number): string;
    /**
     * The ranked CSV (formula-safe), as `leadladder rank` writes it.
     */
    exportCsv(): string;
    /**
     * Indices of the loaded rows whose cells contain every word of `query` (any case).
     */
    filter(query: string): Uint32Array;
    /**
     * Parses a CSV (replacing any loaded file). See API.md.
     */
    loadCsv(bytes: Uint8Array | number[], mapping: any, on_error: string): any;
    /**
     * The ranked queue, best first (every lead must be scored).
     */
    ranking(): any;
    /**
     * Raw cells of loaded rows `[start, end)`, with the file's header.
     */
    rows(start: number, end: number): any;
    /**
     * Scores part `part` of [`Scorer::score_parts`] and keeps the scores; resolves with the
     * indices of the leads scored.
     */
    scorePart(part: number): Promise<any>;
    /**
     * The parts the loaded leads are scored in ([`ScorePolicy::parts`] of this device's
     * policy): the number of leads in each, in order. See API.md.
     */
    scoreParts(): Uint32Array;
    /**
     * The scores of the loaded leads at `indices` (all scored) as a flat `Float32Array`, three
     * numbers a lead: rank score, pointwise logit, p_convert. With [`Scorer::set_scores_at`],
     * lets several workers that loaded the same file and bundle share one ranking.
     */
    scoresAt(indices: Uint32Array | number[]): Float32Array;
    /**
     * The scores of loaded leads `[start, end)` (all scored) as a flat `Float32Array`, three
     * numbers a lead: rank score, pointwise logit, p_convert. With [`Scorer::set_scores`], lets
     * several workers that loaded the same file and bundle share one ranking.
     */
    scoresOf(start: number, end: number): Float32Array;
    /**
     * Stores scores of the leads at `indices` computed by another worker
     * ([`Scorer::scores_at`] on the same file and bundle): three numbers a lead. Non-finite
     * scores are refused, naming the lead.
     */
    setScoresAt(indices: Uint32Array | number[], scores: Float32Array | number[]): void;
    /**
     * Stores scores of leads `start..` computed by another worker ([`Scorer::scores_of`] on the
     * same file and bundle): three numbers a lead. Non-finite scores are refused, naming the lead.
     */
    setScores(start: number, scores: Float32Array | number[]): void;
    /**
     * Every column the model's spec reads, with its role and the header cell that matches it,
     * plus the `{ specColumn: csvColumn }` mapping and the required columns no cell matches.
     */
    suggestMapping(header: string[]): any;
    /**
     * The cells of the given spec columns for every loaded row, cut to `maxLen` characters.
     */
    summary(columns: string[], max_len: number): any;
    /**
     * Drops the loaded file (its text, leads and scores), e.g. before a new one is handed over,
     * so two files are never held at once.
     */
    unloadCsv(): void;
}

/**
 * True only in the WebGPU build (`pkg/gpu`).
 */
export function hasWebGpuBuild(): boolean;

/**
 * How many helper workers the CPU build may score on (`crate::plan`): `input` is
 * `{ requested?, cores?, deviceMemoryGb?, perWorkerBytes, modelReadable }`.
 */
export function helperPlan(input: any): any;

/**
 * Checks a bundle with the full loader and describes it. Throws on a bad bundle.
 */
export function inspectBundle(bytes: Uint8Array | number[]): any;

/**
 * The message of the last Rust panic, if any (the module must then be reloaded).
 */
export function lastPanic(): string | undefined;

/**
 * The header row, encoding and delimiter of a CSV, read with ingest's own sniffing.
 */
export function sniffHeader(bytes: Uint8Array | number[]): any;

/**
 * As [`sniff_header`], from the first bytes of a file (`complete`: they are the whole file):
 * `null` while the bytes do not yet hold the whole header row, so the caller reads more.
 */
export function sniffHeaderPrefix(bytes: Uint8Array | number[], complete: boolean): any;

/**
 * Installs the panic hook: a panic is logged and kept for `lastPanic()`, and the call that
 * panicked throws in JavaScript instead of failing silently.
 */
export function start(): void;

/**
 * Crate version.
 */
export function version(): string;

export type InitInput = RequestInfo | URL | Response | BufferSource | WebAssembly.Module;

export interface InitOutput {
    readonly memory: WebAssembly.Memory;
    readonly __wbg_modelbuffer_free: (a: number, b: number) => void;
    readonly __wbg_scorer_free: (a: number, b: number) => void;
    readonly hasWebGpuBuild: () => number;
    readonly helperPlan: (a: any) => [number, number, number];
    readonly inspectBundle: (a: number, b: number) => [number, number, number];
    readonly lastPanic: () => [number, number];
    readonly modelbuffer_new: (a: number) => [number, number, number];
    readonly modelbuffer_write: (a: number, b: number, c: number) => [number, number];
    readonly modelbuffer_written: (a: number) => number;
    readonly scorer_audit: (a: number, b: number, c: number) => [number, number, number];
    readonly scorer_bundleInfo: (a: number) => [number, number, number];
    readonly scorer_create: (a: number, b: number, c: number, d: any) => any;
    readonly scorer_createFromBuffer: (a: number, b: number, c: any) => any;
    readonly scorer_deviceInfo: (a: number) => [number, number, number];
    readonly scorer_drift: (a: number) => [number, number, number];
    readonly scorer_explain: (a: number, b: number, c: number, d: number) => any;
    readonly scorer_exportCsv: (a: number) => [number, number, number, number];
    readonly scorer_exportCsvPart: (a: number, b: number, c: number) => [number, number, number, number];
    readonly scorer_filter: (a: number, b: number, c: number) => [number, number, number, number];
    readonly scorer_loadCsv: (a: number, b: number, c: number, d: any, e: number, f: number) => [number, number, number];
    readonly scorer_ranking: (a: number) => [number, number, number];
    readonly scorer_rows: (a: number, b: number, c: number) => [number, number, number];
    readonly scorer_scorePart: (a: number, b: number) => any;
    readonly scorer_scoreParts: (a: number) => [number, number, number, number];
    readonly scorer_scoresAt: (a: number, b: number, c: number) => [number, number, number, number];
    readonly scorer_scoresOf: (a: number, b: number, c: number) => [number, number, number, number];
    readonly scorer_setScores: (a: number, b: number, c: number, d: number) => [number, number];
    readonly scorer_setScoresAt: (a: number, b: number, c: number, d: number, e: number) => [number, number];
    readonly scorer_suggestMapping: (a: number, b: number, c: number) => [number, number, number];
    readonly scorer_summary: (a: number, b: number, c: number, d: number) => [number, number, number];
    readonly scorer_unloadCsv: (a: number) => void;
    readonly sniffHeader: (a: number, b: number) => [number, number, number];
    readonly sniffHeaderPrefix: (a: number, b: number, c: number) => [number, number, number];
    readonly start: () => void;
    readonly version: () => [number, number];
    readonly wasm_bindgen__convert__closures_____invoke__h22d66674a5b1f3d4: (a: number, b: number, c: any) => [number, number];
    readonly wasm_bindgen__convert__closures_____invoke__h22d66674a5b1f3d4_38: (a: number, b: number, c: any) => [number, number];
    readonly wasm_bindgen__convert__closures_____invoke__h22d66674a5b1f3d4_39: (a: number, b: number, c: any) => [number, number];
    readonly wasm_bindgen__convert__closures_____invoke__h430c556b3f8b148a: (a: number, b: number, c: any) => [number, number];
    readonly wasm_bindgen__convert__closures_____invoke__h589cc671db485270: (a: number, b: number, c: any, d: any) => void;
    readonly wasm_bindgen__convert__closures_____invoke__h8acb104684761bb0: (a: number, b: number, c: any) => void;
    readonly wasm_bindgen__convert__closures_____invoke__h8acb104684761bb0_37: (a: number, b: number, c: any) => void;
    readonly __wbindgen_malloc_command_export: (a: number, b: number) => number;
    readonly __wbindgen_realloc_command_export: (a: number, b: number, c: number, d: number) => number;
    readonly __wbindgen_free_command_export: (a: number, b: number, c: number) => void;
    readonly __wbindgen_exn_store_command_export: (a: number) => void;
    readonly __externref_table_alloc_command_export: () => number;
    readonly __wbindgen_externrefs: WebAssembly.Table;
    readonly __wbindgen_destroy_closure_command_export: (a: number, b: number) => void;
    readonly __externref_table_dealloc_command_export: (a: number) => void;
    readonly __externref_drop_slice_command_export: (a: number, b: number) => void;
    readonly __wbindgen_start: () => void;
}

export type SyncInitInput = BufferSource | WebAssembly.Module;

/**
 * Instantiates the given `module`, which can either be bytes or
 * a precompiled `WebAssembly.Module`.
 *
 * @param {{ module: SyncInitInput }} module - Passing `SyncInitInput` directly is deprecated.
 *
 * @returns {InitOutput}
 */
export function initSync(module: { module: SyncInitInput } | SyncInitInput): InitOutput;

/**
 * If `module_or_path` is {RequestInfo} or {URL}, makes a request and
 * for everything else, calls `WebAssembly.instantiate` directly.
 *
 * @param {{ module_or_path: InitInput | Promise<InitInput> }} module_or_path - Passing `InitInput` directly is deprecated.
 *
 * @returns {Promise<InitOutput>}
 */
export default function __wbg_init (module_or_path?: { module_or_path: InitInput | Promise<InitInput> } | InitInput | Promise<InitInput>): Promise<InitOutput>;
