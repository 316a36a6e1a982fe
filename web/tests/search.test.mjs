// Search from the sidebar: the box filters conversations by title as you type and finds
// messages on the server; a message result opens its conversation far back in its history,
// scrolled to and marked; Esc clears. Desktop and phone sizes, with an axe audit of the results.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, WAIT, apiUser, audit, launch, openPage, shot, uniqueName } from './helpers.mjs';

const OLDER = 600;
let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

for (const [size, viewport] of [
  ['desktop', { width: 1440, height: 900 }],
  ['phone', { width: 390, height: 844 }],
]) {
  test(`search finds conversations and messages and jumps to one (${size})`, async () => {
    const reader = await apiUser(uniqueName('reader'));
    const writer = await apiUser(uniqueName('writer'));
    const group = await writer.call('POST', '/conversations', { name: 'Crème Brûlée Club', member_ids: [reader.user.id] });
    const id = group.conversation.id;
    // The one message to find, then enough after it that it is far out of the first page.
    await writer.call('POST', `/conversations/${id}/messages`, { client_msg_id: 'needle', text: 'The Café opens at noon' });
    for (let i = 0; i < OLDER; i += 50) {
      await Promise.all(
        Array.from({ length: 50 }, (_, k) =>
          writer.call('POST', `/conversations/${id}/messages`, { client_msg_id: `hay-${i + k}`, text: `filler line ${i + k}` }),
        ),
      );
    }

    const { page, errors, context } = await openPage(browser, { viewport, bypassCSP: true });
    await page.goto(BASE + '/');
    await page.getByLabel('Username').fill(reader.user.username);
    await page.getByLabel('Password').fill('correct horse battery');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('button.conv').first().waitFor(WAIT);

    const box = page.getByLabel('Search conversations and messages');
    await box.fill('creme clu');
    const results = page.getByRole('region', { name: 'Search results' });
    await results.getByRole('button', { name: 'Crème Brûlée Club' }).waitFor(WAIT);
    await box.fill('cafe noon');
    const hit = results.locator('button.hit');
    await hit.first().waitFor(WAIT);
    assert.equal(await hit.count(), 1);
    assert.deepEqual(await hit.first().locator('mark').allTextContents(), ['Café', 'noon']);
    assert.match(await hit.first().locator('.hit-where').textContent(), /Crème Brûlée Club/);
    await audit(page, `search results (${size})`);
    await shot(page, `search-results-${size}`);

    // Opening the hit loads history back to it, scrolls it into view and marks it.
    await hit.first().click();
    const found = page.locator('.msg.found[data-seq="1"]');
    await found.waitFor(WAIT);
    assert.equal(await found.locator('.text').textContent(), 'The Café opens at noon');
    const inView = await found.evaluate((el) => {
      const r = el.getBoundingClientRect();
      const list = el.closest('.messages').getBoundingClientRect();
      return r.top >= list.top && r.bottom <= list.bottom;
    });
    assert.ok(inView, 'the found message is in view');
    await shot(page, `search-jump-${size}`);
    assert.ok(page.url().endsWith(`/c/${id}`));

    // Esc clears the box and the list is back.
    if (size === 'phone') await page.getByRole('button', { name: 'Back to conversations' }).click();
    await box.fill('nothing-like-this-anywhere');
    await results.getByText('No messages found.').waitFor(WAIT);
    await box.press('Escape');
    assert.equal(await box.inputValue(), '');
    await page.locator('button.conv').first().waitFor(WAIT);
    assert.deepEqual(errors, []);
    await context.close();
  });
}

test('clicking a reply’s quote jumps to the original, however far back', async () => {
  const reader = await apiUser(uniqueName('reader'));
  const writer = await apiUser(uniqueName('writer'));
  const summary = await writer.call('POST', '/conversations/direct', { user_id: reader.user.id });
  const id = summary.conversation.id;
  await writer.call('POST', `/conversations/${id}/messages`, { client_msg_id: 'original', text: 'Where do we meet?' });
  for (let i = 0; i < 300; i += 50) {
    await Promise.all(
      Array.from({ length: 50 }, (_, k) =>
        writer.call('POST', `/conversations/${id}/messages`, { client_msg_id: `mid-${i + k}`, text: `in between ${i + k}` }),
      ),
    );
  }
  await writer.call('POST', `/conversations/${id}/messages`, { client_msg_id: 'reply', text: 'مرحبا — at the station', reply_to_seq: 1 });

  const { page, errors, context } = await openPage(browser, { bypassCSP: true });
  await page.goto(`${BASE}/c/${id}`);
  await page.getByLabel('Username').fill(reader.user.username);
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Sign in' }).click();
  const reply = page.locator('.msg[data-seq="302"]');
  await reply.waitFor(WAIT);
  assert.equal(await reply.locator('.text').getAttribute('dir'), 'auto');
  await audit(page, 'a conversation with a reply');
  await reply.locator('button.reply-quote').click();
  const original = page.locator('.msg.found[data-seq="1"]');
  await original.waitFor(WAIT);
  assert.equal(await original.locator('.text').textContent(), 'Where do we meet?');
  assert.deepEqual(errors, []);
  await context.close();
});
