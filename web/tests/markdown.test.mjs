// Message Markdown in the browser: bold, italic, inline code, a fenced code block that scrolls
// sideways instead of wrapping, a safe link, and a javascript: link that stays plain text; in
// someone else's message (seeded over REST) and in one's own (typed in the composer). Checked in
// the DOM, with axe in light and dark, and screenshots.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { WAIT, apiUser, audit, launch, openPage, shot, signUp, uniqueName } from './helpers.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test('Markdown renders as elements, code verbatim, and an unsafe link is only text', async () => {
  const friend = await apiUser(uniqueName('marko'));
  // bypassCSP: axe is injected as an inline script, which the app's CSP rightly refuses.
  const { page, errors, context } = await openPage(browser, { bypassCSP: true });
  const me = uniqueName('reader');
  await signUp(page, me, 'Rita Reader');
  const myId = await page.evaluate(() => window.__natter.store.me.id);
  const id = (await friend.call('POST', '/conversations/direct', { user_id: myId })).conversation.id;
  const long = `echo ${'wide '.repeat(60)}end`;
  const text = [
    `**Heads up** @${me}: run _this_ first, ~~not that~~`,
    '```sh',
    'npm ci && echo *not bold* @nobody https://example.com/in-code',
    long,
    '```',
    'then [click me](javascript:alert(1)) or read [the **docs**](https://example.com/docs) and `inline *code*`.',
    '<b>still not HTML</b> 2*3*4 snake_case_name',
  ].join('\n');
  await friend.call('POST', `/conversations/${id}/messages`, { client_msg_id: 'md1', text, mentions: [] });

  await page.locator(`button.conv[data-conv="${id}"]`).click();
  const theirs = page.locator('.messages .msg:not(.mine) .text', { hasText: 'Heads up' });
  await theirs.waitFor(WAIT);

  assert.equal(await theirs.locator('strong').first().textContent(), 'Heads up');
  assert.equal(await theirs.locator('em').textContent(), 'this');
  assert.equal(await theirs.locator('del').textContent(), 'not that');
  assert.equal(await theirs.locator(':scope > code').textContent(), 'inline *code*');
  assert.equal(await theirs.locator('.mention.me').textContent(), `@${me}`);

  // The code block: verbatim (no formatting, link or mention inside), its language a class only.
  const pre = theirs.locator('pre');
  assert.equal(await pre.count(), 1);
  assert.equal(await pre.locator('code').getAttribute('class'), 'language-sh');
  assert.equal(await pre.textContent(), `npm ci && echo *not bold* @nobody https://example.com/in-code\n${long}`);
  assert.equal(await pre.locator('strong, em, a, .mention').count(), 0);
  // It keeps its long line and scrolls sideways inside the bubble.
  const box = await pre.evaluate((el) => ({
    scroll: el.scrollWidth,
    client: el.clientWidth,
    whiteSpace: getComputedStyle(el).whiteSpace,
    overflowX: getComputedStyle(el).overflowX,
    inBubble: el.getBoundingClientRect().right <= el.closest('.bubble').getBoundingClientRect().right,
  }));
  assert.ok(box.scroll > box.client, `the long line overflows (${box.scroll} > ${box.client})`);
  assert.equal(box.whiteSpace, 'pre');
  assert.equal(box.overflowX, 'auto');
  assert.ok(box.inBubble, 'the block stays inside its bubble');

  // The safe link is an <a> (with its bold text); the javascript: one is not a link at all.
  const docs = theirs.locator('a[href="https://example.com/docs"]');
  assert.equal(await docs.textContent(), 'the docs');
  assert.equal(await docs.locator('strong').textContent(), 'docs');
  assert.equal(await docs.getAttribute('rel'), 'noopener noreferrer nofollow');
  assert.equal(await docs.getAttribute('target'), '_blank');
  assert.equal(await theirs.locator('a').count(), 1);
  assert.equal(await page.locator('a[href^="javascript" i]').count(), 0);
  assert.match(await theirs.textContent(), /then \[click me\]\(javascript:alert\(1\)\) or read/);
  // Text that looks like HTML or like markers stays as typed.
  assert.equal(await theirs.locator('b').count(), 0);
  assert.match(await theirs.textContent(), /<b>still not HTML<\/b> 2\*3\*4 snake_case_name$/);

  // One's own message, typed in the composer: the same rendering on the other bubble colour.
  const composer = page.getByLabel('Message', { exact: true });
  await composer.fill('Sent with **bold** and `code`:\n```\nconst x = a * b; // *kept*\n```\nand [a bad one](data:text/html,hi)');
  await composer.press('Enter');
  const mine = page.locator('.messages .msg.mine:not(.pending) .text', { hasText: 'Sent with' });
  await mine.waitFor(WAIT);
  assert.equal(await mine.locator('strong').textContent(), 'bold');
  assert.equal(await mine.locator(':scope > code').textContent(), 'code');
  assert.equal(await mine.locator('pre').textContent(), 'const x = a * b; // *kept*');
  assert.equal(await mine.locator('a').count(), 0);
  assert.match(await mine.textContent(), /and \[a bad one\]\(data:text\/html,hi\)$/);

  await shot(page, 'markdown-desktop-light');
  await audit(page, 'Markdown messages (light)');
  await page.emulateMedia({ colorScheme: 'dark' });
  await shot(page, 'markdown-desktop-dark');
  await audit(page, 'Markdown messages (dark)');
  await page.setViewportSize({ width: 390, height: 844 });
  await pre.scrollIntoViewIfNeeded();
  await shot(page, 'markdown-phone-dark');
  assert.deepEqual(errors, []);
  await context.close();
});
