// Push notifications in the web app, against the real server and natter-push-lab (scripts/test-web
// starts both: natter sends Web Push to the lab, which decrypts each push as a browser would and
// prints it into NATTER_PUSH_LAB_OUT). Headless Chromium cannot reach a push service, so the page's
// PushManager is stubbed to hand out the lab's subscription, and the decrypted payload the lab
// received is delivered into the service worker over CDP (ServiceWorker.deliverPushMessage):
// the worker shows it, a withdraw (the conversation read on another device) closes it, a click
// opens the conversation, a push of the conversation on screen shows nothing, and turning push
// off deletes the device. Then the notification settings, kept across a reload.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { BASE, WAIT, apiUser, audit, launch, openPage, shot, signUp, uniqueName } from './helpers.mjs';

const LAB_OUT = process.env.NATTER_PUSH_LAB_OUT;

/** The lab's complete output lines: its set-up, then `{"push": …}` per accepted push. */
function labLines() {
  return readFileSync(LAB_OUT, 'utf8').split('\n').slice(0, -1).map((line) => JSON.parse(line));
}

/** The first push the lab accepted that `match`es, waiting at most 60 s (the drain polls every 100 ms). */
async function labPush(match, what) {
  for (let i = 0; i < 600; i++) {
    const hit = labLines()
      .slice(1)
      .map((line) => line.push)
      .find(match);
    if (hit) return hit;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the lab got no push ${what}: ${JSON.stringify(labLines().slice(1))}`);
}

/** Waits until the user of `token` is offline (no WebSocket open): the server pushes only then. */
async function offline(token) {
  const me = await fetchJson(token, 'GET', '/users/me');
  let view;
  for (let i = 0; i < 300; i++) {
    view = await fetchJson(token, 'GET', `/users/${me.id}`);
    if (view.online === false) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`still online after 30 s: ${JSON.stringify(view)}`);
}

/** Signs `username` in over REST (another device): its access token. */
async function login(username) {
  const res = await fetch(`${BASE}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password: 'correct horse battery', device_name: 'phone' }),
  });
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()).access_token;
}

async function fetchJson(token, method, path, body) {
  const res = await fetch(`${BASE}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  assert.ok(res.ok, `${method} ${path}: ${res.status} ${await res.clone().text()}`);
  return res.status === 204 ? undefined : res.json();
}

/** A PushManager that subscribes to the lab (the subscription survives reloads, as a browser's does). */
function stubPushManager(subscription) {
  const stored = () => localStorage.getItem('natter.test.push');
  const make = () => ({
    endpoint: subscription.endpoint,
    expirationTime: null,
    options: { userVisibleOnly: true, applicationServerKey: null },
    toJSON: () => ({ endpoint: subscription.endpoint, expirationTime: null, keys: subscription.keys }),
    unsubscribe: async () => {
      localStorage.removeItem('natter.test.push');
      return true;
    },
  });
  PushManager.prototype.subscribe = async function (options) {
    const key = btoa(String.fromCharCode(...new Uint8Array(options.applicationServerKey)));
    localStorage.setItem('natter.test.push', JSON.stringify({ userVisibleOnly: options.userVisibleOnly, key }));
    return make();
  };
  PushManager.prototype.getSubscription = async function () {
    return stored() ? make() : null;
  };
}

/** Hands `payload` to the page's service worker as a push message, over CDP. */
async function deliver(context, page, payload) {
  // A push handed to a worker still installing is lost: wait until one is active.
  await page.evaluate(() => navigator.serviceWorker.ready.then(() => true));
  const cdp = await context.newCDPSession(page);
  // Enabling the domain reports the registrations, in events that may come after its answer.
  const registrationId = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no service worker registration for ${BASE}/`)), WAIT.timeout);
    cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations }) => {
      const ours = registrations.find((r) => r.scopeURL === `${BASE}/` && !r.isDeleted);
      if (!ours) return;
      clearTimeout(timer);
      resolve(ours.registrationId);
    });
    cdp.send('ServiceWorker.enable').catch(reject);
  });
  await cdp.send('ServiceWorker.deliverPushMessage', { origin: BASE, registrationId, data: JSON.stringify(payload) });
  await cdp.detach();
}

/** The notifications the service worker shows, as the page sees them. */
function shown(page) {
  return page.evaluate(async () => {
    const reg = await navigator.serviceWorker.ready;
    return (await reg.getNotifications()).map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data }));
  });
}

/** What the worker shows once it shows `count` notifications, or after `polls` looks 100 ms apart. */
async function waitShownWithin(page, count, polls) {
  let notes = [];
  for (let i = 0; i < polls; i++) {
    notes = await shown(page);
    if (notes.length === count) return notes;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return notes;
}

/** Waits (at most 15 s) until the worker shows `count` notifications; it shows them asynchronously. */
async function waitShown(page, count) {
  const notes = await waitShownWithin(page, count, 150);
  if (notes.length === count) return notes;
  throw new Error(`expected ${count} notifications, the worker shows ${JSON.stringify(notes)}`);
}

/**
 * Hands `payload` to the worker and waits until it shows one notification. A push into a worker
 * Chromium has just (re)started is now and then dropped by the CDP hand-off (1 run in 3 here,
 * under load, for the first page's; once for a later page's): handed over again if nothing shows
 * in 5 s. The same tag replaces, so a late first copy cannot make two.
 */
async function deliverShown(context, page, payload) {
  await deliver(context, page, payload);
  if ((await waitShownWithin(page, 1, 50)).length !== 1) await deliver(context, page, payload);
  return waitShown(page, 1);
}

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test('push is turned on, arrives in the service worker, is withdrawn when read elsewhere, opens the conversation when clicked, and is turned off', { skip: !LAB_OUT && 'needs natter-push-lab (scripts/test-web)' }, async () => {
  const lab = labLines()[0];
  const { context, page, errors } = await openPage(browser);
  await context.grantPermissions(['notifications'], { origin: BASE });
  await context.addInitScript(stubPushManager, lab.web_push_subscription);

  const bobName = uniqueName('bob');
  await signUp(page, bobName, 'Bob Push');
  const bobToken = await page.evaluate(() => JSON.parse(localStorage.getItem('natter.auth')).access_token);
  const bob = await page.evaluate(() => JSON.parse(localStorage.getItem('natter.auth')).user);
  const ada = await apiUser(uniqueName('ada'));
  const carol = await apiUser(uniqueName('carol'));
  const phone = await login(bobName); // Bob's other device, over REST only
  const withAda = (await ada.call('POST', '/conversations/direct', { user_id: bob.id })).conversation.id;
  const withCarol = (await carol.call('POST', '/conversations/direct', { user_id: bob.id })).conversation.id;

  // Bob turns push on: the stub was asked for a user-visible subscription with the server's key,
  // and the server has it as this session's device.
  await page.getByRole('button', { name: 'Notifications' }).click();
  const toggle = page.getByLabel(/Push notifications on this device/);
  await toggle.click(); // checked once the device is registered
  await page.locator('fieldset[data-push="on"]').waitFor(WAIT);
  const asked = await page.evaluate(() => JSON.parse(localStorage.getItem('natter.test.push')));
  const vapid = Buffer.from(lab.vapid_public_key, 'base64url').toString('base64');
  assert.deepEqual(asked, { userVisibleOnly: true, key: vapid });
  const devices = await fetchJson(bobToken, 'GET', '/push/devices');
  assert.deepEqual(
    devices.devices.map((d) => [d.kind, d.current, d.hint]),
    [['web_push', true, new URL(lab.web_push_subscription.endpoint).host]],
  );
  await shot(page, 'push-settings-on');
  await page.getByRole('button', { name: 'Close' }).click();

  // Bob closes natter; Ada writes. The lab gets the push and decrypts it.
  await page.close();
  await offline(phone);
  await ada.call('POST', `/conversations/${withAda}/messages`, { client_msg_id: crypto.randomUUID(), text: 'Lunch at noon?' });
  const first = await labPush((p) => p.payload.type === 'message' && p.payload.conversation_id === withAda, 'for the first message');
  assert.equal(first.device, lab.web_push_subscription.endpoint);
  assert.equal(first.payload.body, 'Lunch at noon?');

  // Bob opens natter on Carol's conversation; the push reaches the worker, which shows it.
  const second = await context.newPage();
  second.setDefaultTimeout(WAIT.timeout);
  second.on('pageerror', (error) => errors.push(String(error)));
  await second.goto(`${BASE}/c/${withCarol}`);
  await second.locator('.conn[data-state="connected"]').waitFor({ state: 'attached', ...WAIT });
  let notes = await deliverShown(context, second, first.payload);
  assert.deepEqual(notes, [
    { title: first.payload.title, body: 'Lunch at noon?', tag: first.payload.tag, data: { conversation_id: withAda, message_id: first.payload.message_id, seq: first.payload.seq } },
  ]);

  // Bob reads it on another device: the withdraw the lab gets closes the notification.
  await fetchJson(phone, 'POST', `/conversations/${withAda}/read`, { seq: first.payload.seq });
  const withdraw = await labPush((p) => p.payload.type === 'withdraw' && p.payload.conversation_id === withAda, 'withdrawing the first message');
  assert.equal(withdraw.device, lab.web_push_subscription.endpoint);
  assert.equal(withdraw.payload.read_seq, first.payload.seq);
  await deliver(context, second, withdraw.payload);
  await waitShown(second, 0);

  // Another message while Bob is away; clicking its notification opens Ada's conversation.
  await second.close();
  await offline(phone);
  await ada.call('POST', `/conversations/${withAda}/messages`, { client_msg_id: crypto.randomUUID(), text: 'See you there' });
  const again = await labPush((p) => p.payload.type === 'message' && p.payload.body === 'See you there', 'for the second message');
  const third = await context.newPage();
  third.setDefaultTimeout(WAIT.timeout);
  third.on('pageerror', (error) => errors.push(String(error)));
  await third.goto(`${BASE}/c/${withCarol}`);
  await third.locator('.conn[data-state="connected"]').waitFor({ state: 'attached', ...WAIT });
  notes = await deliverShown(context, third, again.payload);
  assert.equal(notes[0].body, 'See you there');
  const [worker] = context.serviceWorkers();
  assert.ok(worker, 'the service worker is running');
  await worker.evaluate(async () => {
    const [notification] = await self.registration.getNotifications();
    self.dispatchEvent(new NotificationEvent('notificationclick', { notification }));
  });
  await third.waitForURL(`${BASE}/c/${withAda}`, WAIT);
  await third.locator('.messages .msg .text', { hasText: 'See you there' }).waitFor(WAIT);
  await waitShown(third, 0);

  // With Ada's conversation on screen, a push of it shows nothing; one of another does.
  await deliver(context, third, again.payload);
  await deliver(context, third, { ...again.payload, conversation_id: withCarol, tag: withCarol, body: 'From Carol' });
  notes = await waitShown(third, 1);
  assert.deepEqual(notes.map((n) => [n.tag, n.body]), [[withCarol, 'From Carol']]);

  // Turning push off deletes the device and unsubscribes the browser.
  await third.getByRole('button', { name: 'Notifications' }).click();
  await third.locator('fieldset[data-push="on"]').waitFor(WAIT);
  await third.getByLabel(/Push notifications on this device/).click();
  await third.locator('fieldset[data-push="off"]').waitFor(WAIT);
  assert.deepEqual((await fetchJson(bobToken, 'GET', '/push/devices')).devices, []);
  assert.equal(await third.evaluate(() => localStorage.getItem('natter.test.push')), null);
  assert.deepEqual(errors, []);
  await context.close();
});

test('notification settings are saved, kept across a reload, and agree with the server', async () => {
  const { context, page, errors } = await openPage(browser, { bypassCSP: true });
  const name = uniqueName('nina');
  await signUp(page, name, 'Nina Settings');
  const token = await page.evaluate(() => JSON.parse(localStorage.getItem('natter.auth')).access_token);
  assert.deepEqual(await fetchJson(token, 'GET', '/users/me/notifications'), { level: 'all', preview: 'full', quiet_hours: null });

  await page.getByRole('button', { name: 'Notifications' }).click();
  await page.getByLabel('Mentions and direct messages').check();
  await page.getByLabel('Show in notifications').selectOption('sender_only');
  await page.getByLabel('Arrive silently during quiet hours').check();
  await page.getByLabel('From').fill('21:30');
  await page.getByLabel('To', { exact: true }).fill('06:45');
  await page.getByLabel('Time zone').fill('Europe/Paris');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByRole('status').filter({ hasText: 'Saved' }).waitFor(WAIT);
  await shot(page, 'push-settings');
  await audit(page, 'the notifications dialog');

  await page.reload();
  await page.getByRole('button', { name: 'Notifications' }).click();
  await page.getByLabel('Time zone').waitFor(WAIT);
  assert.equal(await page.getByLabel('Mentions and direct messages').isChecked(), true);
  assert.equal(await page.getByLabel('All messages').isChecked(), false);
  assert.equal(await page.getByLabel('Show in notifications').inputValue(), 'sender_only');
  assert.equal(await page.getByLabel('From').inputValue(), '21:30');
  assert.equal(await page.getByLabel('To', { exact: true }).inputValue(), '06:45');
  assert.equal(await page.getByLabel('Time zone').inputValue(), 'Europe/Paris');
  assert.deepEqual(await fetchJson(token, 'GET', '/users/me/notifications'), {
    level: 'mentions_and_direct',
    preview: 'sender_only',
    quiet_hours: { start: '21:30', end: '06:45', time_zone: 'Europe/Paris' },
  });

  // A time zone the server does not know is refused, and nothing changes.
  await page.getByLabel('Time zone').fill('Mars/Olympus');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByRole('alert').waitFor(WAIT);
  assert.equal((await fetchJson(token, 'GET', '/users/me/notifications')).quiet_hours.time_zone, 'Europe/Paris');
  assert.deepEqual(errors.filter((e) => !e.includes('400')), []);
  await context.close();
});

test('the push control is hidden when the server has no Web Push or the browser no Push API', async () => {
  for (const setUp of [
    (context) => context.route('**/api/v1/push/vapid-public-key', (route) => route.fulfill({ status: 404, contentType: 'application/json', body: '{"code":"not_found","message":"Web Push is not configured"}' })),
    (context) => context.addInitScript(() => delete window.PushManager),
  ]) {
    const { context, page } = await openPage(browser);
    await setUp(context);
    await signUp(page, uniqueName('pat'), 'Pat NoPush');
    await page.getByRole('button', { name: 'Notifications' }).click();
    await page.getByLabel('All messages').waitFor(WAIT);
    assert.equal(await page.getByLabel(/Push notifications on this device/).count(), 0);
    await context.close();
  }
});
