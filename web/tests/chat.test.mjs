// Two people in two browser contexts: sign up, start a direct conversation, chat live, see typing
// and read receipts; one goes offline, sends (shown as pending), comes back, and every message
// arrives exactly once, in order. Screenshots at desktop and phone sizes, light and dark.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { WAIT, launch, openPage, shot, signUp, uniqueName } from './helpers.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

const exactly = (page, text) => page.locator('.messages .msg:not(.pending) .text', { hasText: new RegExp(`^${text}$`) });

test('two users chat live, with typing, receipts, an offline spell and no duplicates', async () => {
  const a = await openPage(browser);
  const b = await openPage(browser);
  const alice = uniqueName('alice');
  const bob = uniqueName('bob');
  await signUp(a.page, alice, 'Alice Liddell');
  await signUp(b.page, bob, 'Bob Builder');

  // Alice starts a direct conversation by searching Bob's username prefix.
  await a.page.getByRole('button', { name: 'New message' }).click();
  await a.page.getByLabel('To').fill(bob.slice(0, 8));
  await a.page.getByRole('button', { name: /Bob Builder/ }).click();
  await a.page.getByRole('heading', { name: 'Bob Builder' }).waitFor(WAIT);
  const composerA = a.page.getByLabel('Message', { exact: true });
  const composerB = b.page.getByLabel('Message', { exact: true });
  await composerA.fill(`Hello Bob, see https://example.com and @${bob}`);
  await composerA.press('Enter');
  await exactly(a.page, `Hello Bob, see https://example.com and @${bob}`).waitFor(WAIT);

  // Bob sees it live in his list, with an unread and a mention badge, then opens it.
  const conv = b.page.locator('button.conv').first();
  await conv.locator('[data-unread="1"]').waitFor(WAIT);
  await conv.locator('.badge.mention').waitFor(WAIT);
  // The tab says so too: the count in the title and a badge drawn on the favicon.
  await b.page.waitForFunction(() => document.title === '(1) natter', null, WAIT);
  await b.page.waitForFunction(
    () => document.querySelector('link[rel="icon"]')?.getAttribute('href')?.startsWith('data:image/png'),
    null,
    WAIT,
  );
  await conv.click();
  await exactly(b.page, `Hello Bob, see https://example.com and @${bob}`).waitFor(WAIT);
  const link = b.page.locator('.messages a[href="https://example.com"]');
  assert.equal(await link.getAttribute('rel'), 'noopener noreferrer nofollow');
  await b.page.locator('.msg.mentions-me').waitFor(WAIT);
  // A mention of oneself stays in the line (it once took the sidebar's `.me` flex box).
  assert.equal(await b.page.locator('.msg .mention.me').first().evaluate((el) => getComputedStyle(el).display), 'inline');
  // Read: the title and the favicon are plain again.
  await b.page.waitForFunction(() => document.title === 'natter', null, WAIT);
  assert.equal(await b.page.locator('link[rel="icon"]').getAttribute('href'), '/icon.svg');

  // Read receipt: Alice sees "Seen" under her message once Bob has it open.
  await a.page.locator('[data-testid="seen"]').waitFor(WAIT);

  // Typing indicator, then a reply (Enter sends; Shift+Enter makes a new line).
  await composerB.click();
  await b.page.keyboard.type('Hi Alice');
  await a.page.getByTestId('typing').filter({ hasText: 'Bob Builder is typing…' }).waitFor(WAIT);
  await b.page.keyboard.press('Shift+Enter');
  await b.page.keyboard.type('<b>not bold</b>');
  await b.page.keyboard.press('Enter');
  await a.page.locator('.messages .msg .text', { hasText: '<b>not bold</b>' }).waitFor(WAIT);
  assert.equal(await a.page.locator('.messages .msg .text b').count(), 0, 'user text is never parsed as HTML');
  assert.equal(
    await a.page.locator('.messages .msg .text', { hasText: 'not bold' }).innerText(),
    'Hi Alice\n<b>not bold</b>',
  );
  await a.page.getByTestId('typing').filter({ hasText: /^$/ }).waitFor(WAIT);

  // A reaction from Alice shows up for Bob.
  const bobsMessage = a.page.locator('.msg', { hasText: 'not bold' });
  await bobsMessage.hover();
  await bobsMessage.getByRole('button', { name: 'React 👍' }).click();
  await b.page.locator('.reaction', { hasText: '👍 1' }).waitFor(WAIT);

  await a.page.mouse.move(1, 1);
  await shot(a.page, 'chat-desktop-light');
  await a.page.emulateMedia({ colorScheme: 'dark' });
  await shot(a.page, 'chat-desktop-dark');
  await a.page.emulateMedia({ colorScheme: 'light' });

  // Alice goes offline: the network is cut and her socket dropped (setOffline alone does not
  // close an open WebSocket); new sockets are refused until she is back.
  let offline = true;
  await a.context.routeWebSocket(/\/api\/v1\/ws/, (ws) => (offline ? ws.close({ code: 4999, reason: 'offline' }) : ws.connectToServer()));
  await a.context.setOffline(true);
  await a.page.evaluate(() => window.__natter.session.forceDisconnect());
  await a.page.locator('.conn[data-state="offline"]').waitFor(WAIT);
  for (const n of [1, 2, 3]) {
    await composerA.fill(`offline ${n}`);
    await composerA.press('Enter');
  }
  await a.page.locator('[data-pending]').nth(2).waitFor(WAIT);
  assert.equal(await a.page.locator('[data-pending]').count(), 3, 'three messages shown as pending');
  const stored = await a.page.evaluate(() => {
    const key = Object.keys(localStorage).find((k) => k.startsWith('natter.outbox.'));
    return JSON.parse(localStorage.getItem(key) ?? '[]').map((i) => i.text);
  });
  assert.deepEqual(stored, ['offline 1', 'offline 2', 'offline 3'], 'the outbox is persisted');
  await shot(a.page, 'chat-desktop-offline');
  assert.equal(await b.page.locator('.messages .msg .text', { hasText: /^offline/ }).count(), 0);

  // Back online: everything is sent once, in order, and the pending rows are replaced.
  offline = false;
  await a.context.setOffline(false);
  await a.page.evaluate(() => window.__natter.session.reconnectNow());
  await a.page.locator('.conn[data-state="connected"]').waitFor({ state: 'attached', ...WAIT });
  await exactly(b.page, 'offline 3').waitFor(WAIT);
  await a.page.locator('[data-pending]').first().waitFor({ state: 'detached', ...WAIT });

  // A drop right after a send: the command is re-sent after the reconnect, deduplicated by
  // its client_msg_id.
  await composerA.fill('after a drop');
  await composerA.press('Enter');
  await a.page.evaluate(() => window.__natter.session.forceDisconnect());
  await exactly(b.page, 'after a drop').waitFor(WAIT);
  await exactly(a.page, 'after a drop').waitFor(WAIT);
  await a.page.locator('[data-pending]').first().waitFor({ state: 'detached', ...WAIT });

  for (const page of [a.page, b.page]) {
    const texts = (await page.locator('.messages .msg:not(.pending) .text').allTextContents()).filter((t) =>
      /^(offline \d|after a drop)$/.test(t),
    );
    assert.deepEqual(texts, ['offline 1', 'offline 2', 'offline 3', 'after a drop'], 'each exactly once, in order');
  }
  assert.equal(await a.page.locator('[data-pending]').count(), 0);

  // Phone-sized layout: the list and the conversation are separate screens.
  for (const scheme of ['light', 'dark']) {
    await b.page.emulateMedia({ colorScheme: scheme });
    await b.page.setViewportSize({ width: 390, height: 844 });
    await exactly(b.page, 'after a drop').waitFor(WAIT);
    await b.page.mouse.move(1, 1);
    await shot(b.page, `chat-phone-${scheme}`);
    await b.page.getByRole('button', { name: 'Back to conversations' }).click();
    await b.page.locator('button.conv').first().waitFor(WAIT);
    await shot(b.page, `list-phone-${scheme}`);
    await b.page.locator('button.conv').first().click();
  }

  // No errors on either page, apart from the refused sockets while offline.
  const unexpected = [...a.errors, ...b.errors].filter((e) => !/WebSocket|ERR_INTERNET_DISCONNECTED/.test(e));
  assert.deepEqual(unexpected, []);
  await a.context.close();
  await b.context.close();
});
