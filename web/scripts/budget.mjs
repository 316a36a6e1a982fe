// The bundle budget (issue 13): the JS and CSS the app loads, every web/dist/assets/*.js and
// *.css and sw.js, as natter sends them to a browser that accepts brotli (the `.br` siblings
// written by scripts/compress.mjs, or the file itself where it has none), must total at most
// BUDGET bytes. Prints each file's raw, gzip and brotli size and the total; exits 1 over the
// budget. Run by scripts/test-web after the build; `node scripts/budget.mjs DIR` checks another
// build.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** 60 KiB of compressed JS and CSS. */
const BUDGET = 61_440;

const dist = process.argv[2] ?? fileURLToPath(new URL('../dist', import.meta.url));
const assets = join(dist, 'assets');
const loaded = readdirSync(assets)
  .filter((name) => /\.(js|css)$/.test(name))
  .sort()
  .map((name) => `assets/${name}`);
if (existsSync(join(dist, 'sw.js'))) loaded.push('sw.js');

/** The size sent with that coding: the sibling's, or the file's own where it has none. */
const size = (path, suffix) => {
  const sibling = join(dist, path + suffix);
  return statSync(existsSync(sibling) ? sibling : join(dist, path)).size;
};

const rows = loaded.map((path) => ({ path, raw: size(path, ''), gzip: size(path, '.gz'), brotli: size(path, '.br') }));
const total = { path: 'total', raw: 0, gzip: 0, brotli: 0 };
for (const row of rows) for (const k of ['raw', 'gzip', 'brotli']) total[k] += row[k];

const width = Math.max(...[...rows, total].map((r) => r.path.length));
const line = (r) => `${r.path.padEnd(width)}  ${String(r.raw).padStart(8)}  ${String(r.gzip).padStart(8)}  ${String(r.brotli).padStart(8)}`;
console.log(`${'file'.padEnd(width)}  ${'raw'.padStart(8)}  ${'gzip'.padStart(8)}  ${'brotli'.padStart(8)}`);
for (const row of rows) console.log(line(row));
console.log(line(total));
if (total.brotli > BUDGET) {
  console.error(`over the budget: ${total.brotli} bytes of JS and CSS with brotli, the budget is ${BUDGET}`);
  process.exit(1);
}
console.log(`within the budget: ${total.brotli} of ${BUDGET} bytes of JS and CSS with brotli`);
