/* tslint:disable */
/* eslint-disable */
export const memory: WebAssembly.Memory;
export const inspectCsv: (a: number, b: number) => [number, number, number];
export const lastPanic: () => [number, number];
export const presets: () => [number, number];
export const readSpec: (a: number, b: number) => [number, number, number];
export const specToToml: (a: number, b: number) => [number, number, number, number];
export const start: () => void;
export const train: (a: number, b: number, c: number, d: number, e: number, f: number, g: any) => [number, number, number];
export const version: () => [number, number];
export const __wbindgen_exn_store: (a: number) => void;
export const __externref_table_alloc: () => number;
export const __wbindgen_externrefs: WebAssembly.Table;
export const __wbindgen_malloc: (a: number, b: number) => number;
export const __wbindgen_free: (a: number, b: number, c: number) => void;
export const __externref_table_dealloc: (a: number) => void;
export const __externref_drop_slice: (a: number, b: number) => void;
export const __wbindgen_realloc: (a: number, b: number, c: number, d: number) => number;
export const __wbindgen_start: () => void;
