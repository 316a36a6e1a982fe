// Assembles the desktop app's frontend (desktop/dist, not committed) from the web app's build as
// it is committed (web/dist: the UI is not forked) and the first-start page (setup/: asks for
// the server's address). The web build's precompressed .br/.gz siblings are left out: Tauri
// embeds and compresses the assets itself.
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const desktop = join(dirname(fileURLToPath(import.meta.url)), '..');
const web = join(desktop, '..', 'web', 'dist');
const out = join(desktop, 'dist');

if (!existsSync(join(web, 'index.html'))) {
  console.error(`no web build at ${web}: run 'cd web && npm ci && npm run build'`);
  process.exit(1);
}
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
cpSync(web, out, { recursive: true, filter: (src) => !/\.(br|gz)$/.test(src) });
for (const f of readdirSync(join(desktop, 'setup'))) cpSync(join(desktop, 'setup', f), join(out, f));
console.log(`desktop frontend: ${web} + setup/ -> ${out}`);
