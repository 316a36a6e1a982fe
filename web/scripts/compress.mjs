// Writes precompressed siblings of the build: `x.br` (brotli, quality 11) and `x.gz` (gzip -9)
// next to each text file of web/dist (js, css, html, svg, json, webmanifest, txt) of at least
// MIN_BYTES, kept only when smaller than the file. natter embeds them with the rest of web/dist
// and serves one when the request's Accept-Encoding allows it
// (crates/natter-server/src/web.rs), so nothing is compressed per request.
//
// Node's own zlib, no dependency. Deterministic: the same files give the same bytes (gzip
// writes no name and a zero mtime), since scripts/test-web checks that a fresh build equals the
// committed web/dist. Run by `npm run build` after `vite build`; `node scripts/compress.mjs DIR`
// compresses another directory.
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

/** Text types; images and fonts (png, woff2...) are compressed already. */
const COMPRESSIBLE = /\.(js|mjs|css|html|svg|json|webmanifest|txt)$/;
/**
 * Below this a response fits in one packet compressed or not, and saving a few hundred bytes
 * is not worth a variant. index.html (about 0.9 KiB, the first request of every visit) is above.
 */
const MIN_BYTES = 512;

const dist = process.argv[2] ?? fileURLToPath(new URL('../dist', import.meta.url));

function files(dir) {
  return readdirSync(dir, { withFileTypes: true })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .flatMap((entry) => {
      const path = join(dir, entry.name);
      return entry.isDirectory() ? files(path) : [path];
    });
}

// Siblings of an earlier run go first (vite empties dist, but this can run on its own).
for (const path of files(dist)) {
  if (/\.(br|gz)$/.test(path) && COMPRESSIBLE.test(path.slice(0, -3))) rmSync(path);
}

let raw = 0;
let brotli = 0;
let count = 0;
for (const path of files(dist)) {
  if (!COMPRESSIBLE.test(path)) continue;
  const bytes = readFileSync(path);
  if (bytes.length < MIN_BYTES) continue;
  const br = brotliCompressSync(bytes, {
    params: {
      [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
      [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
      [constants.BROTLI_PARAM_LGWIN]: constants.BROTLI_MAX_WINDOW_BITS,
      [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
    },
  });
  const gz = gzipSync(bytes, { level: constants.Z_BEST_COMPRESSION, memLevel: 9, windowBits: 15 });
  if (br.length < bytes.length) writeFileSync(`${path}.br`, br);
  if (gz.length < bytes.length) writeFileSync(`${path}.gz`, gz);
  raw += bytes.length;
  brotli += Math.min(br.length, bytes.length);
  count += 1;
}
console.log(`compressed ${count} files of ${relative(process.cwd(), dist) || '.'}: ${raw} bytes, ${brotli} with brotli`);
