// The served page: no console errors, no serious or critical axe-core violations on the sign-in
// page and the chat view (light and dark), the app shell's service worker and manifest, and the
// API's JSON 404 beside the app's client-side routes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, WAIT, apiUser, audit, launch, openPage, shot, signUp, uniqueName } from './helpers.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test('sign-in page: no console errors, accessible in light and dark', async () => {
  // bypassCSP: axe is injected as an inline script, which the app's CSP rightly refuses.
  const { page, errors, context } = await openPage(browser, { bypassCSP: true });
  await page.goto(BASE + '/');
  await page.getByRole('heading', { name: 'Sign in' }).waitFor(WAIT);
  await shot(page, 'signin-desktop-light');
  await audit(page, 'the sign-in page (light)');
  await page.emulateMedia({ colorScheme: 'dark' });
  await shot(page, 'signin-desktop-dark');
  await audit(page, 'the sign-in page (dark)');
  await page.setViewportSize({ width: 390, height: 844 });
  await shot(page, 'signin-phone-dark');
  assert.deepEqual(errors, []);
  await context.close();
});

test('chat view: no console errors, accessible in light and dark', async () => {
  const friend = await apiUser(uniqueName('friend'));
  const { page, errors, context } = await openPage(browser, { bypassCSP: true });
  const me = uniqueName('auditor');
  await signUp(page, me, 'Audrey Auditor');
  const summary = await friend.call('POST', '/conversations/direct', { user_id: await page.evaluate(() => window.__natter.store.me.id) });
  const id = summary.conversation.id;
  await friend.call('POST', `/conversations/${id}/messages`, { client_msg_id: 'a1', text: `Hi @${me}, welcome to natter!`, mentions: [] });
  const group = await friend.call('POST', '/conversations', { name: 'Design team', member_ids: [await page.evaluate(() => window.__natter.store.me.id)] });
  await friend.call('POST', `/conversations/${group.conversation.id}/messages`, { client_msg_id: 'g1', text: 'Standup in 5 minutes' });
  await page.locator('button.conv', { hasText: 'Design team' }).waitFor(WAIT);
  await page.locator(`button.conv[data-conv="${id}"]`).click();
  await page.locator('.messages .msg .text', { hasText: 'welcome to natter' }).waitFor(WAIT);
  const composer = page.getByLabel('Message', { exact: true });
  await composer.fill('Thanks! Glad to be here.');
  await composer.press('Enter');
  await page.locator('.messages .msg.mine .text', { hasText: 'Glad to be here' }).waitFor(WAIT);
  await audit(page, 'the chat view (light)');
  await page.emulateMedia({ colorScheme: 'dark' });
  await audit(page, 'the chat view (dark)');
  await page.getByRole('button', { name: 'Details' }).click();
  await page.getByRole('dialog').waitFor(WAIT);
  await audit(page, 'the members dialog');
  await shot(page, 'members-desktop-dark');
  await page.keyboard.press('Escape');
  await page.getByRole('dialog').waitFor({ state: 'detached', ...WAIT });

  // Keyboard: arrows move between conversations, Enter opens one.
  await page.locator('button.conv').first().focus();
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Design team' }).waitFor(WAIT);

  // A new group from the UI, and member management as its owner.
  await page.getByRole('button', { name: 'New group' }).click();
  await page.getByLabel('Group name').fill('Launch crew');
  await page.getByLabel('Add people').fill(friend.user.username.slice(0, 10));
  await page.getByRole('dialog').getByRole('button', { name: new RegExp(friend.user.username) }).click();
  await page.getByRole('list', { name: 'Members to add' }).waitFor(WAIT);
  await page.getByRole('button', { name: 'Create group' }).click();
  await page.getByRole('heading', { name: 'Launch crew' }).waitFor(WAIT);
  await page.getByRole('button', { name: 'Members', exact: true }).click();
  await page.getByRole('button', { name: 'Make admin' }).click();
  await page.getByRole('button', { name: 'Make member' }).waitFor(WAIT);
  await audit(page, 'the members dialog of a group');
  await shot(page, 'group-members-desktop-dark');
  await page.keyboard.press('Escape');
  assert.deepEqual(errors, []);
  await context.close();
});

test('the app shell: service worker, manifest, client routes, and the API keeps its JSON 404', async () => {
  const { page, errors, context } = await openPage(browser);
  await page.goto(BASE + '/');
  const scope = await page.evaluate(() =>
    Promise.race([
      navigator.serviceWorker.ready.then((r) => r.scope),
      new Promise((_, reject) => setTimeout(() => reject(new Error('no service worker')), 10_000)),
    ]),
  );
  assert.equal(scope, BASE + '/');
  const manifest = await (await fetch(BASE + '/manifest.webmanifest')).json();
  assert.equal(manifest.start_url, '/');
  const route = await fetch(BASE + '/c/00000000-0000-0000-0000-000000000000');
  assert.equal(route.status, 200);
  assert.match(route.headers.get('content-type'), /text\/html/);
  const api = await fetch(BASE + '/api/v1/nope');
  assert.equal(api.status, 404);
  assert.equal((await api.json()).code, 'not_found');
  assert.deepEqual(errors, []);
  await context.close();
});
