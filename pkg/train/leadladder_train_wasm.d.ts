/* tslint:disable */
/* eslint-disable */

/**
 * The file's columns for the ladder editor.
 */
export function inspectCsv(bytes: Uint8Array | number[]): any;

/**
 * The message of the last Rust panic, if any (the module must then be reloaded).
 */
export function lastPanic(): string | undefined;

/**
 * The presets the page can train (the from-scratch ones).
 */
export function presets(): string[];

/**
 * Parses and validates a TOML spec as `leadladder train --ladder` does; throws the CLI's
 * message (leakage included).
 */
export function readSpec(toml: string): any;

/**
 * The editor's spec (JSON text in the spec's serde shape) as the TOML the CLI reads; throws
 * the CLI's message when the spec is invalid or leaks.
 */
export function specToToml(json: string): string;

/**
 * Installs the panic hook: a panic is logged and kept for `lastPanic()`; the call that
 * panicked throws in JavaScript (a `RuntimeError`) instead of failing silently.
 */
export function start(): void;

/**
 * Trains on the file's bytes under the spec (TOML) with `options` (`{ preset, seed?, epochs?,
 * bootstrap? }` as JSON text), calling `on_progress(event)` synchronously as the trainer
 * reports. Returns `{ bundle: Uint8Array, reportMarkdown, reportJson, metricsJsonl, guard,
 * leads, tokensPerS }`.
 */
export function train(csv: Uint8Array | number[], spec_toml: string, options: string, on_progress: Function): any;

/**
 * Crate version.
 */
export function version(): string;

export type InitInput = RequestInfo | URL | Response | BufferSource | WebAssembly.Module;

export interface InitOutput {
    readonly memory: WebAssembly.Memory;
    readonly inspectCsv: (a: number, b: number) => [number, number, number];
    readonly lastPanic: () => [number, number];
    readonly presets: () => [number, number];
    readonly readSpec: (a: number, b: number) => [number, number, number];
    readonly specToToml: (a: number, b: number) => [number, number, number, number];
    readonly start: () => void;
    readonly train: (a: number, b: number, c: number, d: number, e: number, f: number, g: any) => [number, number, number];
    readonly version: () => [number, number];
    readonly __wbindgen_exn_store: (a: number) => void;
    readonly __externref_table_alloc: () => number;
    readonly __wbindgen_externrefs: WebAssembly.Table;
    readonly __wbindgen_malloc: (a: number, b: number) => number;
    readonly __wbindgen_free: (a: number, b: number, c: number) => void;
    readonly __externref_table_dealloc: (a: number) => void;
    readonly __externref_drop_slice: (a: number, b: number) => void;
    readonly __wbindgen_realloc: (a: number, b: number, c: number, d: number) => number;
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
