// A conversation of thousands of messages (seeded through the REST API) opens at the newest,
// keeps a bounded number of message nodes in the DOM (virtualised) and loads older pages as the
// user scrolls back, all the way to the first message.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, WAIT, apiUser, launch, openPage, shot, uniqueName } from './helpers.mjs';

const COUNT = 3000;
const MAX_NODES = 200;
let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test(`a history of ${COUNT} messages scrolls back, virtualised`, async () => {
  const reader = await apiUser(uniqueName('reader'));
  const writer = await apiUser(uniqueName('writer'));
  const summary = await writer.call('POST', '/conversations/direct', { user_id: reader.user.id });
  const id = summary.conversation.id;
  for (let i = 0; i < COUNT; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, COUNT - i) }, (_, k) =>
        writer.call('POST', `/conversations/${id}/messages`, {
          client_msg_id: `seed-${i + k}`,
          text: `message number ${i + k}${(i + k) % 7 === 0 ? '\nwith a second line' : ''}`,
        }),
      ),
    );
  }

  const { page, errors, context } = await openPage(browser);
  await page.goto(BASE + '/');
  await page.getByLabel('Username').fill(reader.user.username);
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('button.conv').first().click();
  await page.locator(`.msg[data-seq="${COUNT}"]`).waitFor(WAIT);
  assert.ok((await page.locator('.messages .msg').count()) < MAX_NODES, 'only the visible rows are rendered');

  // Scroll to the top repeatedly: older pages load until the first message is there.
  const list = page.locator('.messages');
  let loaded = 0;
  for (let i = 0; i < 400; i++) {
    await list.evaluate((el) => {
      el.scrollTop = 0;
    });
    await page.waitForTimeout(30);
    loaded = Number(await list.getAttribute('data-total'));
    if (await page.locator('.msg[data-seq="1"]').count()) break;
  }
  await page.locator('.msg[data-seq="1"]').waitFor(WAIT);
  await page.locator('.beginning').waitFor(WAIT);
  // Read the total again: the last page can land between the read in the loop and the check.
  loaded = Number(await list.getAttribute('data-total'));
  assert.ok(loaded >= COUNT, `all ${COUNT} rows are known to the list (${loaded})`);
  const nodes = await page.locator('.messages .msg').count();
  assert.ok(nodes < MAX_NODES, `the DOM holds a bounded number of messages (${nodes})`);
  assert.match(await page.locator('.msg[data-seq="1"] .text').innerText(), /^message number \d+/);

  // Scrolling through the middle renders the right rows without gaps.
  await list.evaluate((el) => {
    el.scrollTop = el.scrollHeight / 2;
  });
  await page.waitForTimeout(100);
  const seqs = (await page.locator('.messages .msg').evaluateAll((els) => els.map((e) => Number(e.dataset.seq))));
  for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], seqs[i - 1] + 1, 'consecutive rows');
  await shot(page, 'history-desktop-light');
  assert.deepEqual(errors, []);
  await context.close();
});
