// Files in messages, between two people in two browser contexts: Alice attaches a PNG (drawn on
// a canvas) and a text file, sees them uploading (their PATCHes are held back until she has, and
// the first one is cut as a network failure would, so the upload resumes from HEAD), sends them
// without a caption; Bob sees the image in place and opens it in the lightbox, and downloads the
// text file's bytes from its card. A cancelled upload is deleted on the server, a file over the
// server's limit shows the server's message, an expired (403) URL is replaced by a fresh one,
// files pasted and dropped onto the conversation are sent too, the lightbox steps between a
// message's images, a deleted message shows no files, an eleventh file is not taken, and a
// message sent before its upload completed waits for it without letting a later one pass.
// Alice's page is audited with axe (hence her `bypassCSP`); Bob's keeps the app's CSP, under which
// the images must load.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { WAIT, audit, launch, openPage, shot, signUp, uniqueName } from './helpers.mjs';

let browser;
before(async () => {
  // A fake microphone (a beep) that needs no permission prompt, for the voice note.
  browser = await launch(['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream']);
});
after(async () => {
  await browser?.close();
});

/** Polls `check` (node side) until it is true, at most `WAIT.timeout`. */
async function until(check, what) {
  const deadline = Date.now() + WAIT.timeout;
  for (let i = 0; i < 1000 && Date.now() < deadline; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A 640x480 PNG drawn in the page. */
async function pngBytes(page) {
  const dataUrl = await page.evaluate(() => {
    const canvas = document.createElement('canvas');
    canvas.width = 640;
    canvas.height = 480;
    const g = canvas.getContext('2d');
    g.fillStyle = '#3b5bdb';
    g.fillRect(0, 0, 640, 480);
    g.fillStyle = '#f59f00';
    g.fillRect(160, 120, 320, 240);
    return canvas.toDataURL('image/png');
  });
  return Buffer.from(dataUrl.split(',')[1], 'base64');
}

/** Hands `files` ({name, type, base64 | text | size}) to the page as a paste into the composer or a drop on the conversation. */
async function pasteOrDrop(page, how, files) {
  await page.evaluate(
    ({ how, files }) => {
      const dt = new DataTransfer();
      for (const f of files) {
        const bytes = f.base64 ? Uint8Array.from(atob(f.base64), (c) => c.charCodeAt(0)) : (f.text ?? new ArrayBuffer(f.size));
        dt.items.add(new File([bytes], f.name, { type: f.type }));
      }
      if (how === 'paste') {
        const target = document.querySelector('.composer textarea');
        target.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
      } else {
        const target = document.querySelector('.messages');
        target.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
        target.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
      }
    },
    { how, files },
  );
}

test('two users exchange images and files; uploads show progress, resume, cancel, refusals and the limit of 10; deletion hides them', async () => {
  const a = await openPage(browser, { bypassCSP: true });
  const b = await openPage(browser);
  const alice = uniqueName('alice');
  const bob = uniqueName('bob');
  await signUp(a.page, alice, 'Alice Files');
  await signUp(b.page, bob, 'Bob Files');
  await a.page.getByRole('button', { name: 'New message' }).click();
  await a.page.getByLabel('To').fill(bob.slice(0, 8));
  await a.page.getByRole('button', { name: /Bob Files/ }).click();
  await a.page.getByRole('heading', { name: 'Bob Files' }).waitFor(WAIT);

  // Alice's upload requests: PATCHes are held while `hold`, and `cut` of them fail as if the
  // network dropped.
  let hold = true;
  let cut = 1;
  const held = [];
  const seen = [];
  a.page.on('request', (r) => r.url().includes('/api/v1/files/uploads') && seen.push(r.method()));
  await a.page.route('**/api/v1/files/uploads/**', async (route) => {
    if (route.request().method() !== 'PATCH') return route.continue();
    if (cut > 0) {
      cut--;
      return route.abort('connectionreset');
    }
    if (hold) held.push(route);
    else await route.continue();
  });
  const release = async () => {
    hold = false;
    for (const route of held.splice(0)) await route.continue().catch(() => {});
  };

  const png = await pngBytes(a.page);
  const notes = Buffer.from('Meeting notes\nline two — ünïcödé\n');
  const send = a.page.getByRole('button', { name: 'Send' });
  assert.equal(await send.isDisabled(), true, 'nothing to send yet');
  await a.page.locator('.composer input[type="file"]').setInputFiles([
    { name: 'square.png', mimeType: 'image/png', buffer: png },
    { name: 'notes.txt', mimeType: 'text/plain', buffer: notes },
  ]);

  // Both chips show their upload running; one PATCH was cut, and the upload asked the offset.
  const chips = a.page.locator('.file-chip');
  await until(async () => held.length === 2, 'both uploads to send their bytes');
  assert.deepEqual(await chips.locator('.file-chip-name').allTextContents(), ['square.png', 'notes.txt']);
  await a.page.getByRole('progressbar', { name: 'Uploading square.png' }).waitFor(WAIT);
  await a.page.getByRole('progressbar', { name: 'Uploading notes.txt' }).waitFor(WAIT);
  assert.ok(seen.includes('HEAD'), `the cut upload resumed from HEAD (saw ${seen.join(' ')})`);
  await shot(a.page, 'attachments-uploading');
  await audit(a.page, 'the composer with uploads');
  await release();
  await a.page.locator('.file-chip[data-state="done"]').nth(1).waitFor(WAIT);

  // A third file, cancelled mid-upload: its chip goes and the server deletes the upload.
  hold = true;
  await a.page.locator('.composer input[type="file"]').setInputFiles([{ name: 'cancel-me.txt', mimeType: 'text/plain', buffer: Buffer.from('never sent') }]);
  await until(async () => held.length === 1, 'the third upload to send its bytes');
  const deleted = a.page.waitForResponse((r) => r.request().method() === 'DELETE' && r.url().includes('/files/uploads/'));
  await a.page.getByRole('button', { name: 'Remove cancel-me.txt' }).click();
  assert.equal((await deleted).status(), 204);
  await a.page.locator('.file-chip', { hasText: 'cancel-me.txt' }).waitFor({ state: 'detached', ...WAIT });
  hold = false;
  for (const route of held.splice(0)) await route.abort().catch(() => {});

  // No caption needed: send the two files.
  assert.equal(await chips.count(), 2);
  await send.click();
  await chips.first().waitFor({ state: 'detached', ...WAIT });
  const sent = a.page.locator('.messages .msg:not(.pending)', { has: a.page.locator('.file-card') });
  await sent.locator('.file-card[data-file="notes.txt"]').waitFor(WAIT);

  await audit(a.page, 'a sent message with files');
  await a.page.emulateMedia({ colorScheme: 'dark' });
  await audit(a.page, 'a sent message with files, dark');
  await a.page.emulateMedia({ colorScheme: 'light' });

  // Bob: the image in place (decoded), the card with the file's name, type and size. His first
  // download of a file's bytes answers 403, as an expired URL does: the app asks for a fresh view.
  let expire = true;
  await b.page.route('**/api/v1/files/*/content/**', async (route) => {
    if (!expire) return route.continue();
    expire = false;
    await route.fulfill({ status: 403, contentType: 'application/json', body: '{"code":"forbidden","message":"expired"}' });
  });
  const refreshed = b.page.waitForResponse((r) => /\/api\/v1\/files\/[0-9a-f-]+$/.test(new URL(r.url()).pathname) && r.request().method() === 'GET');
  await b.page.locator('button.conv').first().click();
  const image = b.page.getByRole('button', { name: 'Open image square.png' });
  await image.waitFor(WAIT);
  await b.page.waitForFunction(() => {
    const img = document.querySelector('.messages .media img');
    return !!img && img.complete && img.naturalWidth > 0;
  }, undefined, WAIT);
  assert.equal((await refreshed).status(), 200);
  // The server read the picture: its box is its size fitted in 320x320 before any byte loads,
  // the ThumbHash paints behind it, and the small thumbnail is what loads, not the original.
  const tile = await image.evaluate((el) => ({
    width: el.getBoundingClientRect().width,
    height: el.getBoundingClientRect().height,
    background: el.style.backgroundImage,
    src: el.querySelector('img').currentSrc,
  }));
  assert.deepEqual([tile.width, tile.height], [320, 240]);
  assert.match(tile.background, /^url\("data:image\/png;base64,/);
  const view = await b.page.evaluate(() => {
    const s = window.__natter.store;
    return [...s.convs.values()].flatMap((c) => [...c.messages.values()]).flatMap((m) => m.attachments ?? []).find((f) => f.name === 'square.png');
  });
  assert.equal(view.width, 640);
  const small = view.thumbnails.find((t) => t.size === 'small');
  assert.equal(new URL(tile.src).pathname, new URL(small.url, tile.src).pathname);
  assert.equal(expire, false);
  const card = b.page.locator('.file-card[data-file="notes.txt"]');
  await card.waitFor(WAIT);
  assert.match(await card.innerText(), /notes\.txt/);
  assert.match(await card.innerText(), new RegExp(`${notes.length} B`));

  // The download is the bytes Alice uploaded.
  const [download] = await Promise.all([b.page.waitForEvent('download', WAIT), card.getByRole('link', { name: 'Download' }).click()]);
  assert.equal(download.suggestedFilename(), 'notes.txt');
  assert.deepEqual(await readFile(await download.path()), notes);

  // The lightbox shows the image; Escape closes it.
  await image.click();
  const lightbox = b.page.locator('dialog.lightbox');
  await lightbox.waitFor(WAIT);
  await b.page.waitForFunction(() => (document.querySelector('dialog.lightbox img')?.naturalWidth ?? 0) > 0, undefined, WAIT);
  await shot(b.page, 'attachments-lightbox');
  await b.page.keyboard.press('Escape');
  await lightbox.waitFor({ state: 'detached', ...WAIT });
  await shot(b.page, 'attachments-received');

  // Over the server's size limit (100 MiB): refused at creation with the server's message, and
  // send stays disabled until the file is removed.
  await pasteOrDrop(a.page, 'drop', [{ name: 'huge.bin', type: 'application/octet-stream', size: 100 * 1024 * 1024 + 1 }]);
  const refusal = a.page.locator('.file-chip.failed [role="alert"]');
  await refusal.waitFor(WAIT);
  assert.match(await refusal.innerText(), /larger than the limit/);
  assert.equal(await send.isDisabled(), true);
  await a.page.getByRole('button', { name: 'Remove huge.bin' }).click();

  // Images pasted into the composer and a file dropped on the conversation, with a caption.
  await pasteOrDrop(a.page, 'paste', [
    { name: 'pasted.png', type: 'image/png', base64: png.toString('base64') },
    { name: 'pasted2.png', type: 'image/png', base64: png.toString('base64') },
  ]);
  await pasteOrDrop(a.page, 'drop', [{ name: 'dropped.txt', type: 'text/plain', text: 'dropped bytes' }]);
  assert.deepEqual(await chips.locator('.file-chip-name').allTextContents(), ['pasted.png', 'pasted2.png', 'dropped.txt']);
  await a.page.getByLabel('Message', { exact: true }).fill('pasted and dropped');
  await a.page.getByLabel('Message', { exact: true }).press('Enter');
  const second = b.page.locator('.messages .msg', { hasText: 'pasted and dropped' });
  await second.locator('.file-card[data-file="dropped.txt"]').waitFor(WAIT);
  await second.getByRole('button', { name: 'Open image pasted.png' }).click();

  // The lightbox steps between the message's two images with the arrow keys.
  await lightbox.locator('.lightbox-name', { hasText: 'pasted.png (1/2)' }).waitFor(WAIT);
  await b.page.keyboard.press('ArrowRight');
  await lightbox.locator('.lightbox-name', { hasText: 'pasted2.png (2/2)' }).waitFor(WAIT);
  await b.page.keyboard.press('ArrowRight');
  await lightbox.locator('.lightbox-name', { hasText: 'pasted.png (1/2)' }).waitFor(WAIT);
  await b.page.keyboard.press('Escape');
  await lightbox.waitFor({ state: 'detached', ...WAIT });

  // Alice deletes that message: Bob's copy shows no files any more.
  a.page.once('dialog', (d) => d.accept());
  const mine = a.page.locator('.messages .msg:not(.pending)', { hasText: 'pasted and dropped' });
  await mine.hover();
  await mine.getByRole('button', { name: 'Delete' }).click();
  const gone = b.page.locator('.messages .msg', { has: b.page.locator('.text.deleted') });
  await gone.waitFor(WAIT);
  assert.equal(await gone.locator('.attachments').count(), 0);

  // Eleven files dropped at once: ten are taken, the composer says so, and all ten are sent.
  const eleven = Array.from({ length: 11 }, (_, i) => ({ name: `f${i}.txt`, type: 'text/plain', text: `file ${i}` }));
  await pasteOrDrop(a.page, 'drop', eleven);
  await a.page.getByRole('status').filter({ hasText: 'At most 10 files per message: 1 not added.' }).waitFor(WAIT);
  assert.equal(await chips.count(), 10);
  await a.page.locator('.file-chip[data-state="done"]').nth(9).waitFor(WAIT);
  await send.click();
  const ten = b.page.locator('.messages .msg', { has: b.page.locator('.file-card[data-file="f9.txt"]') });
  await ten.waitFor(WAIT);
  assert.equal(await ten.locator('.file-card').count(), 10);

  // Sent while its upload is still running: the message waits in the outbox, showing progress,
  // and holds back a message written after it, so Bob gets them in the order Alice sent them.
  hold = true;
  await pasteOrDrop(a.page, 'drop', [{ name: 'late.txt', type: 'text/plain', text: 'late bytes' }]);
  await until(async () => held.length === 1, 'the late upload to send its bytes');
  await send.click();
  await a.page.locator('.msg.pending').getByRole('progressbar', { name: 'Uploading late.txt' }).waitFor(WAIT);
  await a.page.getByLabel('Message', { exact: true }).fill('written after the file');
  await a.page.getByLabel('Message', { exact: true }).press('Enter');
  await a.page.locator('.msg.pending', { hasText: 'written after the file' }).waitFor(WAIT);
  await release();
  const after = b.page.locator('.messages .msg', { hasText: 'written after the file' });
  await after.waitFor(WAIT);
  const late = b.page.locator('.messages .msg', { has: b.page.locator('.file-card[data-file="late.txt"]') });
  await late.waitFor(WAIT);
  assert.ok(Number(await late.getAttribute('data-seq')) < Number(await after.getAttribute('data-seq')), 'sent in order');

  assert.deepEqual(a.errors.filter((e) => !/413|Failed to load resource/.test(e)), []);
  assert.deepEqual(b.errors.filter((e) => !/403/.test(e)), []);
  await a.context.close();
  await b.context.close();
});

test('a voice note is recorded, sent, and played as audio', async () => {
  const a = await openPage(browser);
  const b = await openPage(browser);
  const alice = uniqueName('alice');
  const bob = uniqueName('bob');
  await signUp(a.page, alice, 'Alice Voice');
  await signUp(b.page, bob, 'Bob Voice');
  await a.page.getByRole('button', { name: 'New message' }).click();
  await a.page.getByLabel('To').fill(bob.slice(0, 8));
  await a.page.getByRole('button', { name: /Bob Voice/ }).click();
  await a.page.getByRole('heading', { name: 'Bob Voice' }).waitFor(WAIT);

  await a.page.getByRole('button', { name: 'Record a voice note' }).click();
  const recording = a.page.getByRole('group', { name: 'Recording a voice note' });
  await recording.waitFor(WAIT);
  // Record until the clock shows a second (the recorder delivers data every second).
  await recording.locator('.rec-time', { hasText: /^0:0[1-9]$/ }).waitFor(WAIT);
  await a.page.getByRole('button', { name: 'Stop recording' }).click();
  const chip = a.page.locator('.file-chip', { hasText: /^voice-\d{8}-\d{6}\.(webm|ogg|m4a)/ });
  await chip.waitFor(WAIT);
  await a.page.locator('.file-chip[data-state="done"]').waitFor(WAIT);
  await a.page.getByRole('button', { name: 'Send' }).click();

  // Bob gets a player (a WebM voice note is typed video/webm by the server, and has no picture).
  await b.page.locator('button.conv').first().click();
  const player = b.page.locator('.messages audio');
  await player.waitFor(WAIT);
  assert.match((await player.getAttribute('aria-label')) ?? '', /^voice-/);
  assert.equal(await b.page.locator('.messages video').count(), 0);

  assert.deepEqual(a.errors, []);
  assert.deepEqual(b.errors, []);
  await a.context.close();
  await b.context.close();
});
