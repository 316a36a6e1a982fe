// Finding one's way in a conversation: the "new messages" divider (and opening at it), the
// jump-to-bottom button counting what came while scrolled up, the jump to the first unread
// (loading back to it), and every message action from the keyboard alone.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, WAIT, apiUser, audit, launch, openPage, shot, uniqueName } from './helpers.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

async function seed(sender, conv, from, count, prefix) {
  for (let i = 0; i < count; i += 25) {
    await Promise.all(
      Array.from({ length: Math.min(25, count - i) }, (_, k) =>
        sender.call('POST', `/conversations/${conv}/messages`, { client_msg_id: `${prefix}-${from + i + k}`, text: `${prefix} ${from + i + k}` }),
      ),
    );
  }
}

async function signIn(page, who) {
  await page.goto(BASE + '/');
  await page.getByLabel('Username').fill(who.user.username);
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('.conn[data-state="connected"]').waitFor({ state: 'attached', ...WAIT });
}

for (const [label, viewport] of [
  ['desktop', { width: 1440, height: 900 }],
  ['phone', { width: 390, height: 844 }],
]) {
  test(`unread: the divider, opening at it, the jump buttons (${label})`, async () => {
    const me = await apiUser(uniqueName('reader'));
    const pal = await apiUser(uniqueName('pal'));
    const conv = (await pal.call('POST', '/conversations/direct', { user_id: me.user.id })).conversation.id;
    // Read up to 10, then 40 more arrive: more than a screen of unread.
    await seed(pal, conv, 1, 10, 'old');
    await me.call('POST', `/conversations/${conv}/read`, { seq: 10 });
    await seed(pal, conv, 11, 40, 'new');

    const { page, errors } = await openPage(browser, { viewport, bypassCSP: true });
    await signIn(page, me);
    await page.locator(`button.conv[data-conv="${conv}"]`).click();
    const divider = page.locator('.new-divider');
    await divider.waitFor(WAIT);
    // The list opened at the divider (on screen), not at the bottom: the first new message shows.
    await page.locator('.messages .msg .text', { hasText: /^new 11$/ }).waitFor(WAIT);
    assert.ok(await divider.isVisible(), 'the divider is on screen');
    assert.equal(await page.locator('.messages .msg .text', { hasText: /^new 50$/ }).isVisible(), false, 'not at the bottom');
    const bottom = page.locator('button.jump-bottom');
    await bottom.waitFor(WAIT);
    await shot(page, `unread-divider-${label}`);
    await audit(page, `the conversation at its divider (${label})`);

    // Scrolled up, two more come: the button counts them; it brings the list to the bottom.
    await seed(pal, conv, 51, 2, 'live');
    await page.waitForFunction(() => document.querySelector('button.jump-bottom .badge')?.textContent === '2', null, WAIT);
    await bottom.click();
    await page.locator('.messages .msg .text', { hasText: /^live 52$/ }).waitFor({ state: 'visible', ...WAIT });
    await bottom.waitFor({ state: 'detached', ...WAIT });
    // At the bottom, a new message shows at once, counted nowhere; the divider stays put.
    await seed(pal, conv, 53, 1, 'live');
    await page.locator('.messages .msg .text', { hasText: /^live 53$/ }).waitFor({ state: 'visible', ...WAIT });
    assert.equal(await page.locator('button.jump-bottom').count(), 0);

    // The divider stayed (scrolled out of the window): the "new messages" pill goes back to it.
    const pill = page.locator('button.jump-unread');
    await pill.waitFor(WAIT);
    assert.match(await pill.textContent(), /43 new messages/);
    await pill.click();
    await page.locator('.messages .msg .text', { hasText: /^new 11$/ }).waitFor({ state: 'visible', ...WAIT });
    assert.deepEqual(errors, []);
    await page.context().close();
  });
}

test('jump to the first unread loads back to it when it is pages away', async () => {
  const me = await apiUser(uniqueName('farreader'));
  const pal = await apiUser(uniqueName('farpal'));
  const conv = (await pal.call('POST', '/conversations/direct', { user_id: me.user.id })).conversation.id;
  await seed(pal, conv, 1, 5, 'seen');
  await me.call('POST', `/conversations/${conv}/read`, { seq: 5 });
  await seed(pal, conv, 6, 230, 'unseen');
  const { page, errors } = await openPage(browser, { viewport: { width: 1440, height: 900 } });
  await signIn(page, me);
  await page.locator(`button.conv[data-conv="${conv}"]`).click();
  // The newest page does not hold the first unread: the list starts at the bottom, the pill says how many.
  const pill = page.locator('button.jump-unread');
  await pill.waitFor(WAIT);
  assert.match(await pill.textContent(), /230 new messages/);
  await pill.click();
  await page.locator('.new-divider').waitFor({ state: 'visible', ...WAIT });
  await page.locator('.messages .msg .text', { hasText: /^unseen 6$/ }).waitFor({ state: 'visible', ...WAIT });
  assert.deepEqual(errors, []);
  await page.context().close();
});

test('every message action from the keyboard alone', async () => {
  const me = await apiUser(uniqueName('keys'));
  const pal = await apiUser(uniqueName('keypal'));
  const conv = (await pal.call('POST', '/conversations/direct', { user_id: me.user.id })).conversation.id;
  await pal.call('POST', `/conversations/${conv}/messages`, { client_msg_id: 'k1', text: 'first from pal' });
  await me.call('POST', `/conversations/${conv}/messages`, { client_msg_id: 'k2', text: 'mine to edit' });
  await pal.call('POST', `/conversations/${conv}/messages`, { client_msg_id: 'k3', text: 'last from pal' });
  const { page, errors } = await openPage(browser, { viewport: { width: 1440, height: 900 } });
  await signIn(page, me);
  // Signed in with nothing open, the focus is in the search box.
  await page.waitForFunction(() => document.activeElement?.matches('.search input'), null, WAIT);
  await page.goto(`${BASE}/c/${conv}`);
  const composer = page.getByLabel('Message', { exact: true });
  // Opening a conversation puts the focus in the composer.
  await page.waitForFunction(() => document.activeElement?.matches('.composer textarea'), null, WAIT);
  await page.locator('.messages .msg .text', { hasText: 'last from pal' }).waitFor(WAIT);

  // Into the list: Shift+Tab lands on it (one tab stop), an arrow on the newest message.
  await composer.press('Shift+Tab');
  for (let i = 0; i < 10 && !(await page.evaluate(() => document.activeElement?.matches('.messages'))); i++) await page.keyboard.press('Shift+Tab');
  assert.ok(await page.evaluate(() => document.activeElement?.matches('.messages')), 'the list takes the focus');
  await page.keyboard.press('ArrowUp');
  const focused = () => page.evaluate(() => document.activeElement?.closest('.msg')?.querySelector('.text')?.textContent ?? null);
  await page.waitForFunction(() => document.activeElement?.matches('.msg'), null, WAIT);
  assert.equal(await focused(), 'last from pal');
  await page.keyboard.press('ArrowUp');
  await page.waitForFunction(() => document.activeElement?.matches('.msg') && document.activeElement.textContent.includes('mine to edit'), null, WAIT);

  // E edits my message; Escape gives it back.
  await page.keyboard.press('e');
  await page.waitForFunction(() => document.querySelector('.composer textarea')?.value === 'mine to edit', null, WAIT);
  await composer.fill('mine, edited');
  await composer.press('Enter');
  await page.locator('.messages .msg .text', { hasText: 'mine, edited' }).waitFor(WAIT);

  // The context-menu key opens the actions menu; Reply from it quotes the message.
  await composer.press('Escape');
  await page.waitForFunction(() => document.activeElement?.matches('.composer textarea'), null, WAIT);
  await composer.press('Shift+Tab');
  for (let i = 0; i < 10 && !(await page.evaluate(() => document.activeElement?.matches('.messages'))); i++) await page.keyboard.press('Shift+Tab');
  await page.keyboard.press('Home');
  await page.waitForFunction(() => document.activeElement?.matches('.msg') && document.activeElement.textContent.includes('first from pal'), null, WAIT);
  await page.keyboard.press('ContextMenu');
  const menu = page.getByRole('menu', { name: 'Message actions' });
  await menu.waitFor(WAIT);
  await page.waitForFunction(() => document.activeElement?.getAttribute('role') === 'menuitem', null, WAIT);
  await shot(page, 'message-menu-desktop');
  await page.keyboard.press('ArrowDown'); // React…
  await page.keyboard.press('ArrowUp'); // Reply
  await page.keyboard.press('Enter');
  await page.locator('.composer-context', { hasText: 'Replying to' }).waitFor(WAIT);
  await page.waitForFunction(() => document.activeElement?.matches('.composer textarea'), null, WAIT);
  await composer.fill('a keyboard reply');
  await composer.press('Enter');
  await page.locator('.messages .msg .reply-quote', { hasText: 'first from pal' }).waitFor(WAIT);

  // React… with any emoji, typed into the picker's field.
  await composer.press('Shift+Tab');
  for (let i = 0; i < 10 && !(await page.evaluate(() => document.activeElement?.matches('.messages'))); i++) await page.keyboard.press('Shift+Tab');
  await page.keyboard.press('Home');
  await page.waitForFunction(() => document.activeElement?.matches('.msg') && document.activeElement.textContent.includes('first from pal'), null, WAIT);
  await page.keyboard.press('Enter');
  await menu.waitFor(WAIT);
  await page.waitForFunction(() => document.activeElement?.getAttribute('role') === 'menuitem', null, WAIT);
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Enter');
  const picker = page.getByRole('dialog', { name: 'React with an emoji' });
  await picker.waitFor(WAIT);
  await picker.getByLabel('Any other emoji').fill('🦩');
  await picker.getByLabel('Any other emoji').press('Enter');
  await page.locator('.msg', { hasText: 'first from pal' }).locator('.reaction', { hasText: '🦩' }).waitFor(WAIT);
  // The server has it: the other side sees it.
  const page1 = await pal.call('GET', `/conversations/${conv}/messages?limit=10`);
  assert.ok(page1.messages.find((m) => m.text === 'first from pal').reactions?.some((r) => r.emoji === '🦩'));
  assert.deepEqual(errors, []);
  await page.context().close();
});

test('a far jump opens a window of history; scrolling down loads what follows; the button goes back to the present', async () => {
  const me = await apiUser(uniqueName('windowed'));
  const pal = await apiUser(uniqueName('winpal'));
  const conv = (await pal.call('POST', '/conversations/direct', { user_id: me.user.id })).conversation.id;
  await seed(pal, conv, 1, 400, 'far');
  const replied = (await pal.call('GET', `/conversations/${conv}/messages?after=0&limit=3`)).messages[2];
  await pal.call('POST', `/conversations/${conv}/messages`, { client_msg_id: 'quote', text: 'remember this one?', reply_to_seq: replied.seq });
  await me.call('POST', `/conversations/${conv}/read`, { seq: replied.seq + 398 });
  const { page, errors } = await openPage(browser, { viewport: { width: 1440, height: 900 } });
  await signIn(page, me);
  await page.locator(`button.conv[data-conv="${conv}"]`).click();
  await page.locator('.msg', { hasText: 'remember this one?' }).locator('.reply-quote').click();
  // Only a window around it was loaded, not the 400 messages back to it.
  await page.locator('.msg.found .text', { hasText: new RegExp(`^${replied.text}$`) }).waitFor(WAIT);
  const span = () => page.evaluate((id) => {
    const c = window.__natter.store.convs.get(id);
    return { window: c.window, size: c.messages.size, oldest: c.oldest, newest: c.newest };
  }, conv);
  let s = await span();
  assert.equal(s.window, true);
  assert.ok(s.size <= 100, `a window, not the whole history: ${s.size}`);
  // A live message meanwhile: counted on the button, not put after the window.
  await pal.call('POST', `/conversations/${conv}/messages`, { client_msg_id: 'live-w', text: 'while you were away' });
  await page.waitForFunction(() => Number(document.querySelector('button.jump-bottom .badge')?.textContent) >= 1, null, WAIT);
  assert.equal(await page.locator('.messages .msg .text', { hasText: 'while you were away' }).count(), 0);
  // Scrolling down loads what follows the window.
  const newest = s.newest;
  await page.locator('.messages').evaluate((el) => (el.scrollTop = el.scrollHeight));
  await page.waitForFunction(([id, n]) => window.__natter.store.convs.get(id).newest > n, [conv, newest], WAIT);
  // The button goes back to the present, where live messages follow again.
  await page.locator('button.jump-bottom').click();
  await page.locator('.messages .msg .text', { hasText: 'while you were away' }).waitFor({ state: 'visible', ...WAIT });
  s = await span();
  assert.equal(s.window, false);
  await pal.call('POST', `/conversations/${conv}/messages`, { client_msg_id: 'live-w2', text: 'and now live' });
  await page.locator('.messages .msg .text', { hasText: 'and now live' }).waitFor({ state: 'visible', ...WAIT });
  assert.deepEqual(errors, []);
  await page.context().close();
});
