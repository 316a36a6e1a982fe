// The copy kept on this device (src/state/cache.ts): a reload while offline shows the list and
// the messages (the shell from the service worker, the data from IndexedDB) and says so; back
// online, the server's data replaces it: what came meanwhile arrives once, a conversation I was
// removed from meanwhile disappears. The browser's offline event shows at once, without a
// reload. Signing out deletes the copy. Needs the production build (the service worker).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { WAIT, apiUser, launch, openPage, shot, signUp, uniqueName } from './helpers.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** The conversation records saved for the signed-in user ({id: message count or null}), or
 *  null while there is no database. */
async function saved(page) {
  return page.evaluate(async () => {
    const name = `natter.cache.${window.__natter.store.me.id}`;
    if (!(await indexedDB.databases()).some((d) => d.name === name)) return null;
    const db = await new Promise((resolve, reject) => {
      const r = indexedDB.open(name);
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
    try {
      if (!db.objectStoreNames.contains('convs')) return null;
      const all = await new Promise((resolve, reject) => {
        const r = db.transaction('convs').objectStore('convs').getAll();
        r.onsuccess = () => resolve(r.result);
        r.onerror = () => reject(r.error);
      });
      return Object.fromEntries(all.map((c) => [c.summary.conversation.id, c.messages ? c.messages.length : null]));
    } finally {
      db.close();
    }
  });
}

const texts = (page) => page.locator('.messages .msg:not(.pending) .text').allTextContents();

test('a reload while offline shows the saved list and messages; back online the live data replaces them', async () => {
  const { context, page, errors } = await openPage(browser);
  const alice = uniqueName('alice');
  await signUp(page, alice, 'Alice Offline');
  const aliceId = await page.evaluate(() => window.__natter.store.me.id);

  // Bob writes to Alice, and has her in a group.
  const bob = await apiUser(uniqueName('bob'));
  const direct = await bob.call('POST', '/conversations/direct', { user_id: aliceId });
  const directId = direct.conversation.id;
  const group = await bob.call('POST', '/conversations', { name: 'Soon gone', member_ids: [aliceId] });
  const groupId = group.conversation.id;
  const send = (conv, text) => bob.call('POST', `/conversations/${conv}/messages`, { client_msg_id: uniqueName('c'), text });
  for (const n of [1, 2, 3]) await send(directId, `before ${n}`);
  await send(groupId, 'group hello');

  await page.locator(`button.conv[data-conv="${groupId}"]`).waitFor(WAIT);
  await page.locator(`button.conv[data-conv="${directId}"]`).click();
  await page.waitForFunction((n) => document.querySelectorAll('.messages .msg .text').length >= n, 3, WAIT);
  assert.deepEqual(await texts(page), ['before 1', 'before 2', 'before 3']);

  // Saved about a second later: the open conversation with its messages, the other without.
  for (let i = 0; ; i++) {
    const s = await saved(page);
    if (s && s[directId] === 3 && groupId in s) {
      assert.equal(s[groupId], null, 'a conversation never opened: its summary only');
      break;
    }
    assert.ok(i < 100, `saved: ${JSON.stringify(s)}`);
    await page.waitForTimeout(100);
  }
  // The service worker holds the shell.
  await page.evaluate(() => navigator.serviceWorker.ready);

  // Offline: the network is cut and new sockets refused (setOffline alone does not close an
  // open WebSocket). The banner says so at once, from the browser's offline event.
  let offline = true;
  await context.routeWebSocket(/\/api\/v1\/ws/, (ws) => (offline ? ws.close({ code: 4999, reason: 'offline' }) : ws.connectToServer()));
  await context.setOffline(true);
  await page.locator('.conn[data-state="offline"]').waitFor({ state: 'attached', timeout: 2000 });
  assert.match(await page.locator('.conn').innerText(), /^Offline/);

  // Meanwhile Bob writes again, and removes Alice from the group.
  await send(directId, 'while away');
  await bob.call('DELETE', `/conversations/${groupId}/members/${aliceId}`);

  // Reload while offline: the shell comes from the service worker (its own network is down
  // too), the list and the open conversation's messages from the saved copy.
  const response = await page.reload({ waitUntil: 'domcontentloaded' });
  assert.equal(response?.fromServiceWorker(), true, 'the page came from the service worker');
  const probe = await page.evaluate(() => fetch(`/assets/probe-${Date.now()}.js`).then((r) => r.status, () => 'failed'));
  assert.equal(probe, 'failed', 'the network is really down for the service worker');
  await page.locator('.conn[data-state="offline"]', { hasText: 'showing saved messages' }).waitFor({ state: 'attached', ...WAIT });
  await page.locator(`button.conv[data-conv="${groupId}"]`).waitFor(WAIT);
  await page.locator(`button.conv[data-conv="${directId}"]`).waitFor(WAIT);
  await page.waitForFunction((n) => document.querySelectorAll('.messages .msg .text').length >= n, 3, WAIT);
  assert.deepEqual(await texts(page), ['before 1', 'before 2', 'before 3']);
  // Names come from the saved users.
  await page.getByRole('heading', { name: bob.user.display_name, exact: true }).waitFor(WAIT);
  assert.equal(await page.locator('.messages.loading').count(), 0, 'no "Loading…"');
  await shot(page, 'offline-saved');
  // Opening another conversation and coming back: its history fetch fails, the saved messages
  // stay on screen.
  await page.locator(`button.conv[data-conv="${groupId}"]`).click();
  await page.getByRole('heading', { name: 'Soon gone' }).waitFor(WAIT);
  await page.locator(`button.conv[data-conv="${directId}"]`).click();
  await page.waitForFunction((n) => document.querySelectorAll('.messages .msg .text').length >= n, 3, WAIT);
  await page.waitForTimeout(300);
  assert.deepEqual(await texts(page), ['before 1', 'before 2', 'before 3']);
  assert.equal(await page.locator('.messages.loading').count(), 0);

  // Back online: the server's list drops the group, the new message arrives once.
  offline = false;
  await context.setOffline(false);
  await page.locator('.conn[data-state="connected"]').waitFor({ state: 'attached', ...WAIT });
  await page.locator(`button.conv[data-conv="${groupId}"]`).waitFor({ state: 'detached', ...WAIT });
  await page.locator('.messages .msg .text', { hasText: 'while away' }).waitFor(WAIT);
  assert.deepEqual(await texts(page), ['before 1', 'before 2', 'before 3', 'while away']);
  assert.doesNotMatch(await page.locator('.conn').innerText(), /saved/);
  // And live from here: a new message, once.
  await send(directId, 'live again');
  await page.locator('.messages .msg .text', { hasText: 'live again' }).waitFor(WAIT);
  assert.deepEqual(await texts(page), ['before 1', 'before 2', 'before 3', 'while away', 'live again']);

  // The copy follows: the group is gone from it, the new messages are in.
  for (let i = 0; ; i++) {
    const s = await saved(page);
    if (s && s[directId] === 5 && !(groupId in s)) break;
    assert.ok(i < 100, `saved after: ${JSON.stringify(s)}`);
    await page.waitForTimeout(100);
  }

  // Signing out deletes it; the next account on this browser starts empty.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('button', { name: /Sign in|Create an account/ }).first().waitFor(WAIT);
  const names = async () => (await page.evaluate(() => indexedDB.databases())).map((d) => d.name);
  for (let i = 0; (await names()).includes(`natter.cache.${aliceId}`); i++) {
    assert.ok(i < 100, 'the saved copy is deleted at sign-out');
    await page.waitForTimeout(100);
  }
  await signUp(page, uniqueName('carol'), 'Carol');
  assert.equal(await page.locator('button.conv').count(), 0);
  assert.ok(!(await names()).includes(`natter.cache.${aliceId}`));

  const unexpected = errors.filter((e) => !/WebSocket|ERR_INTERNET_DISCONNECTED|ERR_FAILED/.test(e));
  assert.deepEqual(unexpected, []);
  await context.close();
});
