// Settings and group details: a rename seen by a contact, the theme kept across a reload (axe in
// light and dark), a password change (its typed errors, the other session signed out, the new
// password works), signing out another session from the list, and in a group: rename and topic
// seen live by another member (read only for them), mute, and removing a member only after a
// confirmation; a picture set, seen by a contact in the list and the header, refused when it is
// not one, and removed. Screenshots at desktop (1440x900) and phone (390x844) sizes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { crc32, deflateSync } from 'node:zlib';
import { BASE, WAIT, apiUser, audit, launch, openPage, shot, uniqueName } from './helpers.mjs';

const PASSWORD = 'correct horse battery';
const DESKTOP = { width: 1440, height: 900 };
const PHONE = { width: 390, height: 844 };

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

async function signIn(page, username, password = PASSWORD) {
  await page.goto(BASE + '/');
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'New message' }).waitFor(WAIT);
  await page.locator('.conn[data-state="connected"]').waitFor({ state: 'attached', ...WAIT });
}

/** Opens the settings dialog from the sidebar with the keyboard. */
async function openSettings(page) {
  await page.getByRole('button', { name: 'Settings', exact: true }).focus();
  await page.keyboard.press('Enter');
  const dialog = page.getByRole('dialog', { name: 'Settings' });
  await dialog.waitFor(WAIT);
  return dialog;
}

const focusedLabel = (page) => page.evaluate(() => document.activeElement?.closest('label')?.textContent?.trim() ?? document.activeElement?.tagName);
const theme = (page) => page.evaluate(() => document.documentElement.dataset.theme);

/** Console errors but the failed requests a test provokes on purpose (HTTP 4xx shown by Chromium). */
const unexpected = (errors) => errors.filter((e) => !/Failed to load resource: the server responded with a status of 4\d\d/.test(e));

/** A `width` x `height` RGB PNG: a diagonal gradient. */
function png(width, height) {
  const chunk = (type, data) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bits per sample
  header[9] = 2; // RGB
  const rows = [];
  for (let y = 0; y < height; y++) {
    const row = Buffer.alloc(1 + width * 3);
    for (let x = 0; x < width; x++) row.set([(x * 255) / width, (y * 255) / height, 160], 1 + x * 3);
    rows.push(row);
  }
  const signature = Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]);
  return Buffer.concat([signature, chunk('IHDR', header), chunk('IDAT', deflateSync(Buffer.concat(rows))), chunk('IEND', Buffer.alloc(0))]);
}

/** Whether the avatar image under `locator` has loaded its pixels. */
const pictureLoaded = (locator) => locator.locator('.avatar img').evaluate((img) => img.complete && img.naturalWidth > 0);

async function login(username, password) {
  return fetch(`${BASE}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password, device_name: 'test' }),
  });
}

test('settings: a rename shows for a contact, the theme survives a reload, accessible in light and dark', async () => {
  const friend = await apiUser(uniqueName('friend'));
  const meUser = await apiUser(uniqueName('renamer'));
  const direct = (await friend.call('POST', '/conversations/direct', { user_id: meUser.user.id })).conversation.id;
  // Contacts: a direct conversation counts once I have replied in it (the server's rule for who
  // hears of my profile and presence).
  await friend.call('POST', `/conversations/${direct}/messages`, { client_msg_id: 'hi', text: 'Hi there' });
  await meUser.call('POST', `/conversations/${direct}/messages`, { client_msg_id: 'hello', text: 'Hello!' });
  const a = await openPage(browser, { viewport: DESKTOP, bypassCSP: true, colorScheme: 'light' });
  const b = await openPage(browser);
  await signIn(a.page, meUser.user.username);
  await signIn(b.page, friend.user.username);
  const mine = b.page.locator('button.conv .conv-title', { hasText: meUser.user.username });
  await mine.waitFor(WAIT);

  // Reached by keyboard; focus starts in the first field; my initials beside it.
  const dialog = await openSettings(a.page);
  assert.equal(await focusedLabel(a.page), 'Display name');
  assert.equal(await dialog.locator('.profile-card .avatar').textContent(), meUser.user.username.slice(0, 1).toUpperCase());
  await dialog.getByRole('list', { name: 'Sessions and devices' }).locator('li[data-current]').waitFor(WAIT);
  await shot(a.page, 'settings-desktop-light');
  await audit(a.page, 'the settings dialog (light)');

  await dialog.getByLabel('Display name').fill('Robin Renamed');
  await dialog.getByRole('button', { name: 'Save name' }).click();
  await dialog.getByRole('status').filter({ hasText: 'Saved' }).waitFor(WAIT);
  assert.equal(await dialog.locator('.profile-card .avatar').textContent(), 'RR');
  await a.page.locator('.side-head [title^="Signed in as Robin Renamed"]').waitFor(WAIT);
  // The contact sees it live (user.updated), in the list and in the open conversation.
  await b.page.locator('button.conv .conv-title', { hasText: 'Robin Renamed' }).waitFor(WAIT);
  await b.page.locator('button.conv', { hasText: 'Robin Renamed' }).click();
  await b.page.getByRole('heading', { name: 'Robin Renamed' }).waitFor(WAIT);

  // Theme: Dark, explicit while the system is light.
  await dialog.getByRole('radio', { name: 'Dark' }).check();
  assert.equal(await theme(a.page), 'dark');
  const bg = () => a.page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.equal(await bg(), 'rgb(20, 22, 26)');
  await shot(a.page, 'settings-desktop-dark');
  await audit(a.page, 'the settings dialog (dark)');
  await a.page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'detached', ...WAIT });
  assert.ok(await a.page.evaluate(() => document.activeElement?.classList.contains('settings-button')), 'focus back on the button');

  // A reload keeps the name and the theme.
  await a.page.reload();
  await a.page.locator('.side-head [title^="Signed in as Robin Renamed"]').waitFor(WAIT);
  assert.equal(await theme(a.page), 'dark');
  assert.equal(await bg(), 'rgb(20, 22, 26)');
  await audit(a.page, 'the chat list (dark, chosen)');
  let again = await openSettings(a.page);
  assert.equal(await again.getByRole('radio', { name: 'Dark' }).isChecked(), true);
  // Light, explicit while the system is dark.
  await a.page.emulateMedia({ colorScheme: 'dark' });
  await again.getByRole('radio', { name: 'Light' }).check();
  assert.equal(await theme(a.page), 'light');
  assert.equal(await bg(), 'rgb(246, 247, 249)');
  await audit(a.page, 'the settings dialog (light on a dark system)');
  // System follows the system, now and when it changes.
  await again.getByRole('radio', { name: 'System' }).check();
  assert.equal(await theme(a.page), 'dark');
  await a.page.emulateMedia({ colorScheme: 'light' });
  await a.page.waitForFunction(() => document.documentElement.dataset.theme === 'light', null, WAIT);
  assert.equal(await a.page.evaluate(() => localStorage.getItem('natter.theme')), null);

  // Phone size, dark.
  await again.getByRole('radio', { name: 'Dark' }).check();
  await a.page.setViewportSize(PHONE);
  await shot(a.page, 'settings-phone-dark');
  await audit(a.page, 'the settings dialog at phone size (dark)');
  // The way to the notification settings.
  await again.getByRole('button', { name: 'Notification settings…' }).click();
  await a.page.getByRole('dialog', { name: 'Notifications' }).waitFor(WAIT);
  await a.page.waitForTimeout(100); // the settings dialog's late close event must not close this one
  assert.equal(await a.page.getByRole('dialog', { name: 'Notifications' }).isVisible(), true);
  assert.equal(await a.page.getByRole('dialog', { name: 'Settings' }).count(), 0);
  await a.page.keyboard.press('Escape');
  await a.page.getByRole('dialog').waitFor({ state: 'detached', ...WAIT });

  assert.deepEqual(unexpected(a.errors), []);
  assert.deepEqual(b.errors, []);
  await a.context.close();
  await b.context.close();
});

test('change password: typed errors, the other session signed out, then sign in with the new one', async () => {
  const user = await apiUser(uniqueName('pw'));
  const a = await openPage(browser, { viewport: DESKTOP });
  const b = await openPage(browser);
  await signIn(a.page, user.user.username);
  await signIn(b.page, user.user.username);
  const dialog = await openSettings(a.page);
  const sessions = dialog.getByRole('list', { name: 'Sessions and devices' }).locator('li');
  await sessions.nth(2).waitFor(WAIT); // this page, the other page and the REST seeding's session
  const current = dialog.getByLabel('Current password', { exact: true });
  const fresh = dialog.getByLabel('New password', { exact: true });
  const confirm = dialog.getByLabel('Confirm new password', { exact: true });
  const submit = dialog.getByRole('button', { name: 'Change password' });
  const alert = dialog.locator('#password-error');
  const strong = 'violet tandem quarry 58';

  // The confirmation differs: said before asking the server.
  await current.fill(PASSWORD);
  await fresh.fill(strong);
  await confirm.fill(strong + 'x');
  await submit.click();
  await alert.filter({ hasText: 'The new passwords do not match.' }).waitFor(WAIT);
  assert.equal(await confirm.getAttribute('aria-invalid'), 'true');
  // 400 weak_password, with the server's reason.
  await fresh.fill('password123');
  await confirm.fill('password123');
  await submit.click();
  await alert.filter({ hasText: /^Password is too easy to guess/ }).waitFor(WAIT);
  assert.equal(await fresh.getAttribute('aria-invalid'), 'true');
  // 401 bad_credentials: the wrong current password (and this page stays signed in).
  await current.fill('not my password at all');
  await fresh.fill(strong);
  await confirm.fill(strong);
  await submit.click();
  await alert.filter({ hasText: 'The current password is not right.' }).waitFor(WAIT);
  assert.equal(await current.getAttribute('aria-invalid'), 'true');
  await shot(a.page, 'settings-password-error-desktop');

  // Right: the other sessions end (the other page is back at sign-in), this one stays.
  await current.fill(PASSWORD);
  await submit.click();
  await dialog.getByRole('status').filter({ hasText: 'Password changed. Your other sessions were signed out.' }).waitFor(WAIT);
  await b.page.getByRole('heading', { name: 'Sign in' }).waitFor(WAIT);
  await sessions.nth(1).waitFor({ state: 'detached', ...WAIT });
  assert.equal(await sessions.count(), 1);
  assert.equal(await current.inputValue(), '', 'the fields are emptied');
  assert.equal((await login(user.user.username, PASSWORD)).status, 401, 'the old password is refused');
  await a.page.keyboard.press('Escape');
  await a.page.getByRole('button', { name: 'Sign out' }).click();
  await signIn(a.page, user.user.username, strong);

  assert.deepEqual(unexpected(a.errors), []);
  assert.deepEqual(unexpected(b.errors), []);
  await a.context.close();
  await b.context.close();
});

test('sessions: signing out another session ends it (its page signs out, its refresh token is refused)', async () => {
  const user = await apiUser(uniqueName('sess'));
  const a = await openPage(browser, { viewport: PHONE, hasTouch: true, isMobile: true, bypassCSP: true });
  const b = await openPage(browser);
  await signIn(b.page, user.user.username);
  const bTokens = await b.page.evaluate(() => JSON.parse(localStorage.getItem('natter.auth')));
  await signIn(a.page, user.user.username);
  assert.equal((await user.call('GET', '/auth/sessions')).sessions.length, 3, 'the seeding, the other page, this page');

  const dialog = await openSettings(a.page);
  const rows = dialog.getByRole('list', { name: 'Sessions and devices' }).locator('li');
  await rows.nth(2).waitFor(WAIT);
  // The current one first, marked, with no sign-out button of its own.
  assert.equal(await rows.first().getAttribute('data-current'), 'true');
  await rows.first().getByText('This device').waitFor(WAIT);
  assert.equal(await rows.first().getByRole('button').count(), 0);
  await dialog.getByRole('heading', { name: 'Sessions and devices' }).scrollIntoViewIfNeeded();
  await shot(a.page, 'settings-sessions-phone-light');
  await audit(a.page, 'the sessions list at phone size');

  // The seeding's REST session (no device name given): signed out from here, its token stops working.
  await rows.filter({ hasText: 'Unnamed device' }).getByRole('button', { name: /^Sign out Unnamed device, signed in / }).click();
  await rows.nth(2).waitFor({ state: 'detached', ...WAIT });
  await assert.rejects(user.call('GET', '/users/me'), /401/);

  // The other browser: its page goes back to sign-in, and its refresh token is refused.
  await rows.filter({ hasText: 'Web browser' }).getByRole('button', { name: /^Sign out Web browser, signed in / }).click();
  await rows.nth(1).waitFor({ state: 'detached', ...WAIT });
  await b.page.getByRole('heading', { name: 'Sign in' }).waitFor(WAIT);
  const refresh = await fetch(`${BASE}/api/v1/auth/refresh`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ refresh_token: bTokens.refresh_token }),
  });
  assert.equal(refresh.status, 401);
  // This page is still signed in.
  await a.page.keyboard.press('Escape');
  await a.page.getByRole('button', { name: 'New message' }).waitFor(WAIT);

  assert.deepEqual(unexpected(a.errors), []);
  assert.deepEqual(unexpected(b.errors), []);
  await a.context.close();
  await b.context.close();
});

test('group details: rename and topic seen live, read only for members, mute, and removing asks first', async () => {
  const owner = await apiUser(uniqueName('owner'));
  const bob = await apiUser(uniqueName('bob'));
  const carol = await apiUser(uniqueName('carol'));
  await owner.call('PATCH', '/users/me', { display_name: 'Olive Owner' });
  await carol.call('PATCH', '/users/me', { display_name: 'Carol Crane' });
  const group = await owner.call('POST', '/conversations', { name: 'Book club', member_ids: [bob.user.id, carol.user.id] });
  const id = group.conversation.id;
  const direct = (await bob.call('POST', '/conversations/direct', { user_id: owner.user.id })).conversation.id;

  const a = await openPage(browser, { viewport: DESKTOP, bypassCSP: true });
  const b = await openPage(browser, { viewport: PHONE, hasTouch: true, isMobile: true, bypassCSP: true });
  await signIn(a.page, owner.user.username);
  await signIn(b.page, bob.user.username);
  await a.page.locator(`button.conv[data-conv="${id}"]`).click();
  await b.page.locator(`button.conv[data-conv="${id}"]`).click();
  await b.page.getByRole('heading', { name: 'Book club' }).waitFor(WAIT);

  // The owner edits: focus starts in the name field.
  await a.page.getByRole('button', { name: 'Members', exact: true }).click();
  const details = a.page.getByRole('dialog', { name: 'Group details' });
  await details.waitFor(WAIT);
  assert.equal(await focusedLabel(a.page), 'Group name');
  await details.getByRole('list', { name: /^Members/ }).getByText('Carol Crane').waitFor(WAIT);
  await details.getByLabel('Group name').fill('Reading circle');
  await details.getByLabel(/^Topic/).fill('Dune, chapters 1 to 5');
  await details.getByRole('button', { name: 'Save', exact: true }).click();
  await details.getByRole('status').filter({ hasText: 'Saved' }).waitFor(WAIT);
  // Both see it from the conversation.updated event: headings, list, subtitle.
  await a.page.getByRole('heading', { name: 'Reading circle' }).waitFor(WAIT);
  await b.page.getByRole('heading', { name: 'Reading circle' }).waitFor(WAIT);
  await b.page.locator('.chat-head', { hasText: 'Dune, chapters 1 to 5' }).waitFor(WAIT);
  await shot(a.page, 'group-details-owner-desktop');
  await audit(a.page, 'the group details dialog (owner)');

  // A member sees it read only, and follows the owner's next change live.
  await b.page.getByRole('button', { name: 'Members', exact: true }).click();
  const bDetails = b.page.getByRole('dialog', { name: 'Group details' });
  await bDetails.waitFor(WAIT);
  assert.equal(await bDetails.getByRole('textbox').count(), 0, 'nothing to edit');
  await bDetails.getByText("Only the group's owner and admins can change these.").waitFor(WAIT);
  await bDetails.locator('dd', { hasText: 'Dune, chapters 1 to 5' }).waitFor(WAIT);
  assert.equal(await focusedLabel(b.page), 'Mute this conversation');
  await details.getByLabel(/^Topic/).fill('');
  await details.getByRole('button', { name: 'Save', exact: true }).click();
  await bDetails.locator('dd', { hasText: 'No topic' }).waitFor(WAIT);
  await b.page.locator('.chat-head .small-text', { hasText: /^3 members$/ }).waitFor(WAIT);
  await shot(b.page, 'group-details-member-phone');
  await audit(b.page, 'the group details dialog (member, phone)');

  // Mute, for me only: the server keeps it.
  const mute = bDetails.getByRole('checkbox', { name: 'Mute this conversation' });
  await mute.check();
  await b.page.waitForFunction((c) => window.__natter.store.convs.get(c)?.summary.me.muted === true, id, WAIT);
  assert.equal((await bob.call('GET', `/conversations/${id}`)).me.muted, true);
  await mute.uncheck();
  await b.page.waitForFunction((c) => window.__natter.store.convs.get(c)?.summary.me.muted === false, id, WAIT);
  assert.equal((await bob.call('GET', `/conversations/${id}`)).me.muted, false);
  await b.page.keyboard.press('Escape');
  await bDetails.waitFor({ state: 'detached', ...WAIT });

  // A direct conversation: mute too.
  await b.page.getByRole('button', { name: 'Back to conversations' }).click();
  await b.page.locator(`button.conv[data-conv="${direct}"]`).click();
  await b.page.getByRole('button', { name: 'Details' }).click();
  const dm = b.page.getByRole('dialog', { name: 'Details' });
  await dm.getByRole('checkbox', { name: 'Mute this conversation' }).check();
  await b.page.waitForFunction((c) => window.__natter.store.convs.get(c)?.summary.me.muted === true, direct, WAIT);
  assert.equal((await bob.call('GET', `/conversations/${direct}`)).me.muted, true);
  await b.page.keyboard.press('Escape');

  // Removing asks first, naming the person: cancel keeps her.
  const remove = details.getByRole('button', { name: 'Remove Carol Crane' });
  let asked = '';
  a.page.once('dialog', (d) => {
    asked = d.message();
    void d.dismiss();
  });
  await remove.click();
  assert.equal(asked, 'Remove Carol Crane from Reading circle?');
  await a.page.waitForTimeout(300);
  assert.equal(await details.getByRole('list', { name: /^Members/ }).getByText('Carol Crane').count(), 1);
  assert.equal((await owner.call('GET', `/conversations/${id}/members`)).members.length, 3);
  // Accepted: she is gone.
  a.page.once('dialog', (d) => void d.accept());
  await remove.click();
  await details.getByRole('list', { name: /^Members/ }).getByText('Carol Crane').waitFor({ state: 'detached', ...WAIT });
  assert.equal((await owner.call('GET', `/conversations/${id}/members`)).members.length, 2);

  assert.deepEqual(a.errors, []);
  assert.deepEqual(b.errors, []);
  await a.context.close();
  await b.context.close();
});

test('a picture: set in settings, seen by a contact in the list and the header, refused when not one, removed', async () => {
  const friend = await apiUser(uniqueName('viewer'));
  const meUser = await apiUser(uniqueName('pictured'));
  const direct = (await friend.call('POST', '/conversations/direct', { user_id: meUser.user.id })).conversation.id;
  await friend.call('POST', `/conversations/${direct}/messages`, { client_msg_id: 'hi', text: 'Hi there' });
  await meUser.call('POST', `/conversations/${direct}/messages`, { client_msg_id: 'hello', text: 'Hello!' });
  const a = await openPage(browser, { viewport: DESKTOP, bypassCSP: true });
  const b = await openPage(browser, { bypassCSP: true });
  await signIn(a.page, meUser.user.username);
  await signIn(b.page, friend.user.username);
  const row = b.page.locator('button.conv', { hasText: meUser.user.username });
  await row.waitFor(WAIT);
  await row.click();
  const head = b.page.locator('.chat-head');
  await head.getByRole('heading', { name: meUser.user.username }).waitFor(WAIT);
  assert.equal(await row.locator('.avatar img').count(), 0, 'initials before');

  const dialog = await openSettings(a.page);
  assert.equal(await dialog.getByRole('button', { name: 'Remove picture' }).count(), 0, 'nothing to remove yet');
  const picker = dialog.locator('input[type="file"]');
  assert.equal(await picker.getAttribute('accept'), 'image/png,image/jpeg,image/gif,image/webp');

  // Not a picture: refused here (its type), or by the server (bytes that only claim to be one).
  await picker.setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('remember the milk') });
  await dialog.getByRole('alert').filter({ hasText: 'Choose a PNG, JPEG, GIF or WebP picture.' }).waitFor(WAIT);
  await picker.setInputFiles({ name: 'fake.png', mimeType: 'image/png', buffer: Buffer.from('not really a picture at all') });
  await dialog.getByRole('alert').filter({ hasText: 'This file is not a picture natter can show' }).waitFor(WAIT);
  assert.equal(await dialog.locator('.profile-card .avatar img').count(), 0);

  // A picture: uploaded, then mine, in the dialog and on the settings button.
  await picker.setInputFiles({ name: 'me.png', mimeType: 'image/png', buffer: png(200, 160) });
  await dialog.getByRole('status').filter({ hasText: 'Picture changed' }).waitFor(WAIT);
  assert.equal(await dialog.getByRole('alert').count(), 0, 'the earlier error is gone');
  const card = dialog.locator('.profile-card');
  await card.locator('.avatar img').waitFor(WAIT);
  await a.page.waitForFunction(() => document.querySelector('.profile-card .avatar img')?.naturalWidth > 0, null, WAIT);
  assert.equal(await card.locator('.avatar img').getAttribute('alt'), '', 'decorative: the name is beside it');
  assert.match(await card.locator('.avatar img').getAttribute('src'), /\/api\/v1\/files\/[0-9a-f-]+\/content\/[0-9a-f]{64}\?expires=/);
  await a.page.locator('.settings-button .avatar img').waitFor(WAIT);
  await shot(a.page, 'settings-picture');
  await audit(a.page, 'the settings dialog with a picture');

  // The contact sees it live (user.updated): in the conversation list and the open header.
  await row.locator('.avatar img').waitFor(WAIT);
  await head.locator('.avatar img').waitFor(WAIT);
  await b.page.waitForFunction(() => [...document.querySelectorAll('.chat-head .avatar img, button.conv .avatar img')].every((img) => img.complete && img.naturalWidth > 0), null, WAIT);
  assert.ok(await pictureLoaded(row));
  assert.ok(await pictureLoaded(head));
  // And after a reload (GET /users/{id} with fresh URLs).
  await b.page.reload();
  await row.locator('.avatar img').waitFor(WAIT);
  await b.page.waitForFunction(() => document.querySelector('button.conv .avatar img')?.naturalWidth > 0, null, WAIT);

  // Removed: initials again, here and for the contact.
  await dialog.getByRole('button', { name: 'Remove picture' }).click();
  await dialog.getByRole('status').filter({ hasText: 'Picture removed' }).waitFor(WAIT);
  await card.locator('.avatar img').waitFor({ state: 'detached', ...WAIT });
  assert.equal(await card.locator('.avatar').textContent(), meUser.user.username.slice(0, 1).toUpperCase());
  assert.equal(await dialog.getByRole('button', { name: 'Remove picture' }).count(), 0);
  await row.locator('.avatar img').waitFor({ state: 'detached', ...WAIT });
  assert.equal(await a.page.locator('.settings-button .avatar img').count(), 0);

  assert.deepEqual(unexpected(a.errors), []);
  assert.deepEqual(b.errors, []);
  await a.context.close();
  await b.context.close();
});
