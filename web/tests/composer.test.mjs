// The composer's helpers: @mention autocomplete (keyboard and pointer), the emoji picker, and a
// character counter near the limit that refuses to send too much instead of cutting it.
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

for (const [label, viewport] of [
  ['desktop', { width: 1440, height: 900 }],
  ['phone', { width: 390, height: 844 }],
]) {
  test(`mentions, emoji and the counter (${label})`, async () => {
    const me = await apiUser(uniqueName('writer'));
    const zoe = await apiUser(uniqueName('zoe'));
    const zack = await apiUser(uniqueName('zack'));
    const group = await me.call('POST', '/conversations', { name: 'Writers', member_ids: [zoe.user.id, zack.user.id] });
    const conv = group.conversation.id;
    const { page, errors } = await openPage(browser, { viewport, bypassCSP: true });
    await page.goto(BASE + '/');
    await page.getByLabel('Username').fill(me.user.username);
    await page.getByLabel('Password').fill('correct horse battery');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator(`button.conv[data-conv="${conv}"]`).click();
    const composer = page.getByLabel('Message', { exact: true });
    await composer.waitFor(WAIT);
    // Members are known once the list of them loaded.
    await page.waitForFunction((n) => window.__natter.store.convs.get(n)?.members?.length === 3, conv, WAIT);

    // "@z" offers both; ArrowDown + Enter picks the second; the sent message mentions them.
    await composer.click();
    await page.keyboard.type('hi @z');
    const list = page.getByRole('listbox', { name: 'Mention someone' });
    await list.waitFor(WAIT);
    assert.equal(await list.getByRole('option').count(), 2);
    await shot(page, `mention-list-${label}`);
    await audit(page, `the mention list (${label})`);
    const second = (await list.getByRole('option').nth(1).textContent()).match(/@(\S+)/)[1];
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
    await page.waitForFunction((u) => document.querySelector('.composer textarea').value === `hi @${u} `, second, WAIT);
    assert.equal(await list.count(), 0);
    // A pointer pick, narrowed by more letters.
    await page.keyboard.type('and @' + zoe.user.username.slice(0, 4));
    await list.getByRole('option', { name: new RegExp(zoe.user.username) }).click();
    await page.keyboard.type('see you');
    await composer.press('Enter');
    const sent = page.locator('.messages .msg:not(.pending) .text', { hasText: 'see you' });
    await sent.waitFor(WAIT);
    const history = await zoe.call('GET', `/conversations/${conv}/messages?limit=5`);
    const m = history.messages.find((x) => x.text.includes('see you'));
    assert.equal(m.text, `hi @${second} and @${zoe.user.username} see you`);
    assert.deepEqual([...m.mentions].sort(), [zoe.user.id, second === zoe.user.username ? zoe.user.id : zack.user.id].filter((v, i, a) => a.indexOf(v) === i).sort());

    // The emoji picker puts one at the caret; Escape closes it.
    await page.getByRole('button', { name: 'Insert emoji' }).click();
    const picker = page.getByRole('dialog', { name: 'Insert an emoji' });
    await picker.waitFor(WAIT);
    await shot(page, `emoji-picker-${label}`);
    await picker.getByRole('button', { name: '🎉' }).click();
    await page.waitForFunction(() => document.querySelector('.composer textarea').value === '🎉', null, WAIT);
    await page.getByRole('button', { name: 'Insert emoji' }).click();
    await picker.waitFor(WAIT);
    await page.keyboard.press('Escape');
    await picker.waitFor({ state: 'detached', ...WAIT });

    // Near the limit a counter shows; over it, it says by how much and Send is refused.
    await composer.fill('x'.repeat(3850));
    await page.locator('.counter', { hasText: '150 left' }).waitFor(WAIT);
    await composer.fill('x'.repeat(4005));
    await page.locator('.counter.over', { hasText: '5 too many' }).waitFor(WAIT);
    assert.equal(await page.getByRole('button', { name: 'Send' }).isDisabled(), true);
    assert.equal((await composer.inputValue()).length, 4005, 'nothing cut silently');
    await composer.press('Enter');
    await composer.fill('');
    await page.locator('.counter').waitFor({ state: 'detached', ...WAIT });
    assert.deepEqual(errors, []);
    await page.context().close();
  });
}
