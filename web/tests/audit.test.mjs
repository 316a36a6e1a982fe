// The served page: no console errors, no serious or critical axe-core violations on every view
// (sign-in, list, conversation, its menus and pickers, dialogs, settings, search, not found,
// offline) in light and dark at desktop and phone sizes, with a screenshot of each; the app
// shell's service worker and manifest, and the API's JSON 404 beside the app's client-side routes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { BASE, WAIT, apiUser, audit, launch, openPage, shot, signUp, uniqueName } from './helpers.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** The system's colour scheme, and the app's palette once it has followed it (theme.ts). */
async function scheme(page, colorScheme) {
  await page.emulateMedia({ colorScheme });
  await page.waitForFunction((s) => document.documentElement.dataset.theme === s, colorScheme, WAIT);
}

/** What is on screen, in light and in dark: a screenshot of each and axe on each; back to light. */
async function inBoth(page, size, name, what) {
  for (const colorScheme of ['light', 'dark']) {
    await scheme(page, colorScheme);
    await shot(page, `audit-${size}-${name}-${colorScheme}`);
    await audit(page, `${what} (${size}, ${colorScheme})`);
  }
  await scheme(page, 'light');
}

/** A modal dialog by its title, and closing it by its Close button. */
const dialog = (page, title) => page.getByRole('dialog', { name: title, exact: true });
async function closeDialog(page, title) {
  await dialog(page, title).getByRole('button', { name: 'Close', exact: true }).click();
  await dialog(page, title).waitFor({ state: 'detached', ...WAIT });
}

/** The browser logs the 401 of the failed sign-in and the 404 of the conversation that does not exist. */
const unexpected = (errors) => errors.filter((e) => !/Failed to load resource: the server responded with a status of (401|404)/.test(e));

for (const [size, viewport] of [
  ['desktop', { width: 1440, height: 900 }],
  ['phone', { width: 390, height: 844 }],
]) {
  test(`every view is accessible in light and dark (${size})`, async () => {
    // Audrey reads; Ada and Bob write. A direct conversation with unread messages, and a group
    // read up to Audrey's own message, then a screenful of unread ones ending in a reply, a
    // Markdown code block, a mention of her and reactions.
    const me = await apiUser(uniqueName('axme'));
    const ada = await apiUser(uniqueName('axada'));
    const bob = await apiUser(uniqueName('axbob'));
    await me.call('PATCH', '/users/me', { display_name: 'Audrey Auditor' });
    await ada.call('PATCH', '/users/me', { display_name: 'Ada Lovelace' });
    await bob.call('PATCH', '/users/me', { display_name: 'Bob Builder' });
    const send = (who, conv, id, text, extra = {}) => who.call('POST', `/conversations/${conv}/messages`, { client_msg_id: id, text, ...extra });
    const direct = (await ada.call('POST', '/conversations/direct', { user_id: me.user.id })).conversation.id;
    await send(ada, direct, 'd1', 'Are you coming to the launch?');
    await send(ada, direct, 'd2', 'It starts at noon.');
    const group = (await ada.call('POST', '/conversations', { name: 'Design team', member_ids: [me.user.id, bob.user.id] })).conversation.id;
    await send(ada, group, 'g1', 'Morning all! The design review is at noon.');
    const mine = await send(me, group, 'g2', 'Great, I will bring the release notes.');
    await me.call('POST', `/conversations/${group}/read`, { seq: mine.seq });
    for (let i = 1; i <= 30; i++) await send(bob, group, `g-fill-${i}`, `Checklist item ${i} is done`);
    await send(ada, group, 'g-reply', 'Thanks! They are in the wiki.', { reply_to_seq: mine.seq });
    const code = await send(bob, group, 'g-code', 'Run this first:\n\n```\nnpm ci && npm run build\n```');
    await send(bob, group, 'g-mention', `@${me.user.username} can you check the **deploy** logs?`, { mentions: [me.user.id] });
    await ada.call('PUT', `/conversations/${group}/messages/${code.seq}/reactions/${encodeURIComponent('👍')}`);
    await bob.call('PUT', `/conversations/${group}/messages/${code.seq}/reactions/${encodeURIComponent('🎉')}`);

    // bypassCSP: axe is injected as an inline script, which the app's CSP rightly refuses.
    const { page, errors, context } = await openPage(browser, { viewport, bypassCSP: true });
    await page.emulateMedia({ colorScheme: 'light' });

    // Sign-in, a failed sign-in, sign-up.
    await page.goto(BASE + '/');
    await page.getByRole('heading', { name: 'Sign in' }).waitFor(WAIT);
    await inBoth(page, size, 'signin', 'the sign-in form');
    await page.getByLabel('Username').fill(me.user.username);
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('alert').filter({ hasText: /username or password/i }).waitFor(WAIT);
    await inBoth(page, size, 'signin-error', 'the sign-in form with its error');
    await page.getByRole('button', { name: 'Create an account' }).click();
    await page.getByRole('heading', { name: 'Create your account' }).waitFor(WAIT);
    await inBoth(page, size, 'signup', 'the sign-up form');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor(WAIT);
    await page.getByLabel('Username').fill(me.user.username);
    await page.getByLabel('Password').fill('correct horse battery');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.locator('.conn[data-state="connected"]').waitFor({ state: 'attached', ...WAIT });

    // The list: unread badges and a mention badge.
    const groupItem = page.locator(`button.conv[data-conv="${group}"]`);
    await groupItem.locator('.badge.mention').waitFor(WAIT);
    await groupItem.locator('.badge[data-unread="33"]').waitFor(WAIT);
    await page.locator(`button.conv[data-conv="${direct}"] .badge[data-unread="2"]`).waitFor(WAIT);
    await inBoth(page, size, 'list', 'the conversation list');

    // The sidebar's dialogs.
    await page.getByRole('button', { name: 'New message', exact: true }).click();
    await dialog(page, 'New message').getByLabel('To').fill(ada.user.username);
    await dialog(page, 'New message').getByRole('button', { name: new RegExp(ada.user.username) }).waitFor(WAIT);
    await inBoth(page, size, 'new-message', 'the new message dialog');
    await closeDialog(page, 'New message');

    await page.getByRole('button', { name: 'New group', exact: true }).click();
    await dialog(page, 'New group').getByLabel('Group name').fill('Launch crew');
    await dialog(page, 'New group').getByLabel('Add people').fill(bob.user.username);
    await dialog(page, 'New group').getByRole('button', { name: new RegExp(bob.user.username) }).click();
    await dialog(page, 'New group').getByRole('list', { name: 'Members to add' }).waitFor(WAIT);
    await inBoth(page, size, 'new-group', 'the new group dialog');
    await closeDialog(page, 'New group');

    await page.locator('button.settings-button').click();
    const settings = dialog(page, 'Settings');
    await settings.getByText('This device', { exact: true }).waitFor(WAIT);
    await inBoth(page, size, 'settings', 'the settings dialog');
    // The explicit choice outranks the system's scheme, and is kept in localStorage.
    await settings.getByRole('radio', { name: 'Dark' }).check();
    await page.waitForFunction(() => document.documentElement.dataset.theme === 'dark', null, WAIT);
    assert.equal(await page.evaluate(() => localStorage.getItem('natter.theme')), 'dark');
    await shot(page, `audit-${size}-settings-chosen-dark`);
    await audit(page, `the settings dialog, dark chosen on a light system (${size})`);
    await page.emulateMedia({ colorScheme: 'dark' });
    await settings.getByRole('radio', { name: 'Light' }).check();
    await page.waitForFunction(() => document.documentElement.dataset.theme === 'light', null, WAIT);
    assert.equal(await page.evaluate(() => localStorage.getItem('natter.theme')), 'light');
    await audit(page, `the settings dialog, light chosen on a dark system (${size})`);
    await settings.getByRole('radio', { name: 'System' }).check();
    await page.waitForFunction(() => document.documentElement.dataset.theme === 'dark', null, WAIT);
    assert.equal(await page.evaluate(() => localStorage.getItem('natter.theme')), null);
    await scheme(page, 'light');
    await closeDialog(page, 'Settings');

    await page.getByRole('button', { name: 'Notifications', exact: true }).click();
    await dialog(page, 'Notifications').getByRole('group', { name: 'Notify me of' }).waitFor(WAIT);
    await inBoth(page, size, 'notifications', 'the notifications dialog');
    await closeDialog(page, 'Notifications');

    // Search: a conversation by its title, a message from the server's index.
    const box = page.getByLabel('Search conversations and messages');
    await box.fill('design');
    const results = page.getByRole('region', { name: 'Search results' });
    await results.getByRole('button', { name: 'Design team' }).waitFor(WAIT);
    await results.locator('button.hit').first().waitFor(WAIT);
    await inBoth(page, size, 'search', 'the search results');
    await box.press('Escape');
    await results.waitFor({ state: 'detached', ...WAIT });

    // The group, opened at its "new messages" divider (more than a screen of unread).
    await groupItem.click();
    await page.getByRole('heading', { name: 'Design team' }).waitFor(WAIT);
    if (size === 'phone') assert.equal(await page.locator('.sidebar').isVisible(), false, 'the list and the conversation are separate screens');
    const divider = page.locator('.new-divider');
    await divider.waitFor({ state: 'visible', ...WAIT });
    await page.locator('button.jump-bottom').waitFor(WAIT);
    await inBoth(page, size, 'conversation-divider', 'a conversation at its new messages divider');
    // A little further down, the divider out of sight: both jump buttons.
    await page.locator('.messages').evaluate((el) => el.scrollBy(0, 250));
    await page.locator('button.jump-unread').waitFor(WAIT);
    await page.locator('button.jump-bottom').waitFor(WAIT);
    await inBoth(page, size, 'jump-buttons', 'a conversation scrolled up, with its jump buttons');

    // At the bottom: a reply, a code block, a mention, reactions, and a message of mine.
    await page.locator('button.jump-bottom').click();
    await page.locator('button.jump-bottom').waitFor({ state: 'detached', ...WAIT });
    const composer = page.getByLabel('Message', { exact: true });
    await composer.fill('Looks good to me 👍');
    await composer.press('Enter');
    await page.locator('.messages .msg.mine:not(.pending) .text', { hasText: 'Looks good to me' }).waitFor(WAIT);
    await page.locator('.messages .msg .reply-quote', { hasText: 'release notes' }).waitFor({ state: 'visible', ...WAIT });
    await page.locator('.messages .msg pre code', { hasText: 'npm ci' }).waitFor({ state: 'visible', ...WAIT });
    await page.locator('.messages .msg .reaction', { hasText: '🎉' }).waitFor({ state: 'visible', ...WAIT });
    await inBoth(page, size, 'conversation', 'a group conversation');

    // A message's actions menu from the keyboard, and the emoji picker from its "React…".
    await page.locator('.messages').focus();
    await page.keyboard.press('ArrowUp');
    await page.waitForFunction(() => document.activeElement?.matches('.msg'), null, WAIT);
    await page.keyboard.press('Enter');
    await page.getByRole('menu', { name: 'Message actions' }).waitFor(WAIT);
    await page.waitForFunction(() => document.activeElement?.getAttribute('role') === 'menuitem', null, WAIT);
    await inBoth(page, size, 'message-menu', 'a message’s actions menu');
    await page.getByRole('menuitem', { name: 'React…' }).click();
    const picker = page.getByRole('dialog', { name: 'React with an emoji' });
    await picker.waitFor(WAIT);
    await inBoth(page, size, 'emoji-picker', 'the emoji picker');
    await page.keyboard.press('Escape');
    await picker.waitFor({ state: 'detached', ...WAIT });

    // The @mention list (from the group's members, once loaded).
    await page.waitForFunction((id) => window.__natter.store.convs.get(id)?.members?.length === 3, group, WAIT);
    await composer.click();
    await page.keyboard.type('@b');
    await page.getByRole('listbox', { name: 'Mention someone' }).waitFor(WAIT);
    await inBoth(page, size, 'mention-list', 'the @mention list');
    await page.keyboard.press('Escape');
    await composer.fill('');

    // The group's members and details.
    await page.getByRole('button', { name: 'Members', exact: true }).click();
    await dialog(page, 'Group details').getByRole('list', { name: /Members \(3\)/ }).waitFor(WAIT);
    await inBoth(page, size, 'members', 'the members dialog');
    await closeDialog(page, 'Group details');

    // Back to the list (a screen of its own on a phone).
    if (size === 'phone') {
      await page.getByRole('button', { name: 'Back to conversations' }).click();
      await groupItem.waitFor({ state: 'visible', ...WAIT });
    }

    // A conversation that does not exist.
    await page.goto(`${BASE}/c/${randomUUID()}`);
    await page.getByRole('heading', { name: 'Conversation not found' }).waitFor(WAIT);
    await inBoth(page, size, 'not-found', 'the conversation not found view');
    await page.getByRole('button', { name: 'Back to conversations' }).click();
    await groupItem.waitFor({ state: 'visible', ...WAIT });

    // Offline: the banner.
    await context.setOffline(true);
    await page.locator('.conn[data-state="offline"]').waitFor({ state: 'visible', ...WAIT });
    await inBoth(page, size, 'offline', 'the list while offline');
    await context.setOffline(false);
    await page.locator('.conn[data-state="connected"]').waitFor({ state: 'attached', ...WAIT });
    assert.deepEqual(unexpected(errors), []);
    await context.close();
  });
}

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
