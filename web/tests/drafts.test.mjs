// Drafts: what is typed in a conversation stays there when switching to another, after a
// reload and after the phone's back button, and is gone after sign-out.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, WAIT, apiUser, launch, openPage, uniqueName } from './helpers.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test('a draft survives switching, a reload and the back button, not sign-out', async () => {
  const me = await apiUser(uniqueName('drafter'));
  const ann = await apiUser(uniqueName('ann'));
  const bo = await apiUser(uniqueName('bo'));
  const toAnn = (await me.call('POST', '/conversations/direct', { user_id: ann.user.id })).conversation.id;
  const toBo = (await me.call('POST', '/conversations/direct', { user_id: bo.user.id })).conversation.id;

  const { page, errors, context } = await openPage(browser, { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true });
  await page.goto(BASE + '/');
  await page.getByLabel('Username').fill(me.user.username);
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Sign in' }).click();
  const composer = page.getByLabel('Message', { exact: true });
  // The composer shows `want` (polled: a switch re-renders it).
  const holds = (want) => page.waitForFunction((w) => document.querySelector('textarea')?.value === w, want, WAIT);

  await page.locator(`button.conv[data-conv="${toAnn}"]`).click();
  await composer.fill('half a thought for Ann');
  await page.getByRole('button', { name: 'Back to conversations' }).click();
  await page.locator(`button.conv[data-conv="${toBo}"]`).click();
  await holds('');
  await composer.fill('for Bo');
  await page.getByRole('button', { name: 'Back to conversations' }).click();
  await page.locator(`button.conv[data-conv="${toAnn}"]`).click();
  await holds('half a thought for Ann');

  await page.reload();
  await composer.waitFor(WAIT);
  await holds('half a thought for Ann');
  await page.goBack();
  await page.locator(`button.conv[data-conv="${toBo}"]`).click();
  await holds('for Bo');

  // Sending clears it; signing out forgets the rest.
  await composer.press('Enter');
  await page.locator('.messages .msg:not(.pending) .text', { hasText: 'for Bo' }).waitFor(WAIT);
  await holds('');
  // A touch screen: a pointer resting on a message (where a tap left it) shows no toolbar.
  assert.ok(await page.evaluate(() => matchMedia('(hover: none)').matches), 'a touch screen');
  const sent = page.locator('.messages .msg:not(.pending)', { hasText: 'for Bo' });
  await page.locator('textarea').evaluate((el) => el.blur());
  await sent.hover();
  assert.equal(await sent.locator('.toolbar').isVisible(), false, 'no toolbar stuck by :hover');
  await page.getByRole('button', { name: 'Back to conversations' }).click();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('Username').waitFor(WAIT);
  const kept = await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('natter.drafts.')));
  assert.deepEqual(kept, []);
  assert.deepEqual(errors, []);
  await context.close();
});
