#!/usr/bin/env node
// Copies the files leadladder loads at run time (the worker, the wasm builds, the widget's
// stylesheet and, unless --no-model, the demo model) into a folder your app serves, e.g.
//
//   npx leadladder-assets public/leadladder          # then assetsUrl: '/leadladder/'
//   npx leadladder-assets public/leadladder --no-gpu # only the CPU build (5 MB instead of 31 MB)
//
// A bundler copies the JavaScript you import; these files are fetched by the worker at run time,
// from the URL you give as `assetsUrl` (the `assets-url` attribute of <lead-ladder>).
import { copyFileSync, mkdirSync, rmSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const flags = new Set(args.filter((a) => a.startsWith('--')));
const dest = args.find((a) => !a.startsWith('--'));
const known = new Set(['--no-model', '--no-gpu', '--help']);
if (!dest || flags.has('--help') || [...flags].some((f) => !known.has(f))) {
  console.error('usage: leadladder-assets DEST [--no-model] [--no-gpu]');
  process.exit(dest && flags.has('--help') ? 0 : 2);
}
const from = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const files = ['worker.js', 'widget/lead-ladder.css', 'pkg/cpu/leadladder_wasm.js', 'pkg/cpu/leadladder_wasm_bg.wasm'];
if (!flags.has('--no-gpu')) files.push('pkg/gpu/leadladder_wasm.js', 'pkg/gpu/leadladder_wasm_bg.wasm');
if (!flags.has('--no-model')) files.push('models/demo.int8.safetensors');
const out = resolve(dest);
// A build left over from an earlier run must not be served beside this one.
for (const dir of ['pkg', 'models', 'widget']) if (existsSync(join(out, dir))) rmSync(join(out, dir), { recursive: true, force: true });
for (const f of files) {
  mkdirSync(dirname(join(out, f)), { recursive: true });
  copyFileSync(join(from, f), join(out, f));
}
console.log(`leadladder: copied ${files.length} files to ${out}`);
