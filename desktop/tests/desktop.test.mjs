// The desktop app, end to end (scripts/test-desktop sets the stage): the built app under Xvfb,
// driven through tauri-driver and WebKitGTK's WebKitWebDriver, against a real `natter serve`,
// with a second client on the REST API, a test notification server on the session bus
// (tests/notifyd.py) and gnome-keyring as the Secret Service.
//
// Environment: NATTER_URL (the server), NATTER_DESKTOP_APP (the app's binary), WEBDRIVER_URL
// (tauri-driver), NOTIFY_LOG (what notifyd received), RESULTS (screenshots go there).
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
const { NATTER_URL, NATTER_DESKTOP_APP, WEBDRIVER_URL, NOTIFY_LOG, RESULTS } = process.env;
for (const [k, v] of Object.entries({ NATTER_URL, NATTER_DESKTOP_APP, WEBDRIVER_URL, NOTIFY_LOG, RESULTS })) {
  if (!v) throw new Error(`${k} is not set: run scripts/test-desktop`);
}

const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';
const PASSWORD = 'correct-horse-battery-staple-42';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns something truthy (or throws on the last try). */
async function until(what, check, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await sleep(150);
  }
}

// --- a W3C WebDriver client, just what the test uses ---
class Driver {
  static async start(args) {
    await noInstance();
    const body = { capabilities: { alwaysMatch: { 'tauri:options': { application: NATTER_DESKTOP_APP, args } } } };
    const value = await Driver.call('POST', '/session', body);
    return new Driver(value.sessionId);
  }
  static async call(method, path, body) {
    const response = await fetch(WEBDRIVER_URL + path, {
      signal: AbortSignal.timeout(90_000),
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(`WebDriver ${method} ${path}: ${response.status} ${JSON.stringify(json.value ?? json).slice(0, 300)}`);
    return json.value;
  }
  constructor(id) {
    this.id = id;
  }
  cmd(method, path, body) {
    return Driver.call(method, `/session/${this.id}${path}`, body);
  }
  exec(script, ...args) {
    return this.cmd('POST', '/execute/sync', { script, args });
  }
  async find(css, timeoutMs) {
    return until(
      css,
      async () => {
        const found = await this.cmd('POST', '/elements', { using: 'css selector', value: css });
        return found[0]?.[ELEMENT];
      },
      timeoutMs,
    );
  }
  type(element, text) {
    return this.cmd('POST', `/element/${element}/value`, { text });
  }
  /** Types `text` into an empty `element`, again until its value is exactly that (a focus
   *  moved by the app while typing sends keys elsewhere). */
  fill(element, text) {
    return until(`the text in ${element}`, async () => {
      await this.cmd('POST', `/element/${element}/clear`, {});
      await this.type(element, text);
      return (await this.cmd('GET', `/element/${element}/property/value`)) === text;
    });
  }
  click(element) {
    return this.cmd('POST', `/element/${element}/click`, {});
  }
  path() {
    return this.exec('return location.pathname');
  }
  async screenshot() {
    return Buffer.from(await this.cmd('GET', '/screenshot'), 'base64');
  }
  quit() {
    return this.cmd('DELETE', '');
  }
}

// --- the second client: REST ---
async function api(method, path, token, body) {
  const response = await fetch(`${NATTER_URL}/api/v1${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}
const register = (username, display_name) =>
  api('POST', '/auth/register', null, { username, password: PASSWORD, display_name, device_name: 'test' });

function notifications() {
  if (!existsSync(NOTIFY_LOG)) return [];
  return readFileSync(NOTIFY_LOG, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
}

/** The titles of the X display's windows (what a window manager and taskbar would show). */
async function windowTitles() {
  const { stdout } = await run('xwininfo', ['-root', '-tree']);
  return [...stdout.matchAll(/^\s*0x[0-9a-f]+ "([^"]*)"/gm)].map((m) => m[1]);
}

/** Until no instance of the app holds its single-instance name on the session bus: a launch
 *  before that would hand its arguments to the one on its way out, and exit. */
async function noInstance() {
  await until('the previous instance gone', async () => {
    const { stdout } = await run('dbus-send', ['--session', '--print-reply', '--dest=org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus.NameHasOwner', 'string:chat.natter.desktop.SingleInstance']);
    return /boolean false/.test(stdout);
  }, 30_000);
}

/** How many distinct colours a PNG has (ImageMagick). */
async function colours(file) {
  const { stdout } = await run('identify', ['-format', '%k', file]);
  return Number(stdout.trim());
}

const suffix = Date.now().toString(36);
let alice;
let bob;
let conversation;
let app;

before(async () => {
  alice = await register(`alice_${suffix}`, 'Alice Desk');
  bob = await register(`bob_${suffix}`, 'Bob Browser');
  conversation = (await api('POST', '/conversations/direct', bob.access_token, { user_id: alice.user.id })).conversation.id;
  await api('POST', `/conversations/${conversation}/messages`, bob.access_token, { client_msg_id: crypto.randomUUID(), text: 'Hi Alice, are you on the desktop app?' });
});

afterEach(async (t) => {
  // What the window showed when a test failed.
  if (app && t.passed === false) {
    const file = join(RESULTS, `failed-${t.name.slice(0, 40).replace(/[^a-z0-9]+/gi, '-')}.png`);
    writeFileSync(file, await app.screenshot().catch(() => Buffer.alloc(0)));
  }
});

after(async () => {
  await app?.quit().catch(() => {});
});

test('signs in, and a message sent from the app reaches a second client', async () => {
  app = await Driver.start(['--server', NATTER_URL]);
  const username = await app.find('input[name="username"]', 30_000);
  const password = await app.find('input[name="password"]');
  // The form focuses its first field itself, on a frame that can come late under Xvfb: after
  // that, and both fields checked together (a late focus sends the rest of the keys elsewhere).
  await until('the form focused', () => app.exec('return document.activeElement?.name === "username"'));
  await until('the form filled', async () => {
    await app.fill(username, alice.user.username);
    await app.fill(password, PASSWORD);
    return (await app.cmd('GET', `/element/${username}/property/value`)) === alice.user.username;
  });
  await app.click(await app.find('button[type="submit"]'));
  await app.click(await app.find('button.conv', 20_000));
  await until('the conversation open', async () => (await app.path()) === `/c/${conversation}`);
  const text = `Sent from the desktop ${suffix}`;
  const composer = await app.find('textarea[aria-label="Message"]');
  // The app moves the focus itself once signed in (to the search box, on a frame that may come
  // late under Xvfb): fill() types again until every key went to the composer.
  await app.fill(composer, text);
  await app.type(composer, '\uE007'); // Enter sends
  await until('the message at the second client', async () => {
    const page = await api('GET', `/conversations/${conversation}/messages?limit=10`, bob.access_token);
    return page.messages.some((m) => m.text === text && m.sender_id === alice.user.id);
  });
});

test('the session is in the keyring, not in the web storage', async () => {
  assert.equal(await app.exec("return localStorage.getItem('natter.auth')"), null);
  const { stdout } = await run('secret-tool', ['search', '--all', 'service', 'chat.natter.desktop'], { env: process.env }).catch((e) => e);
  assert.match(String(stdout), /refresh_token/, 'the keyring holds the session for the server');
  assert.match(String(stdout), new RegExp(NATTER_URL.replace(/[.:/]/g, '\\$&')), 'keyed by the server');
});

test('the CSP lets the page reach its server and nothing else', async () => {
  const result = await app.cmd('POST', '/execute/async', {
    args: [NATTER_URL],
    script: `const [server, done] = arguments;
      const blocked = [];
      document.addEventListener('securitypolicyviolation', (e) => blocked.push(e.violatedDirective + ' ' + e.blockedURI));
      const fetched = (url) => fetch(url).then((r) => r.status, () => 'refused');
      Promise.all([fetched(server + '/healthz'), fetched('http://127.0.0.1:9/elsewhere')])
        .then(([own, other]) => setTimeout(() => done({ own, other, blocked }), 300));`,
  });
  assert.equal(result.own, 200, 'the server answers');
  assert.equal(result.other, 'refused');
  assert.ok(result.blocked.some((b) => b.startsWith('connect-src') && b.includes('127.0.0.1:9')), JSON.stringify(result.blocked));
});

test('a message received while the window is not focused is a native notification; a click opens its conversation', async () => {
  // Back to the list, then the focus goes elsewhere (another X window takes it).
  await app.exec("window.dispatchEvent(new CustomEvent('natter:open', { detail: '' }))");
  await until('the list', async () => (await app.path()) === '/');
  await run('xdotool', ['search', '--name', '^natter-test-focus$', 'windowfocus', '--sync']);
  await until('the window unfocused', async () => (await app.exec('return document.hasFocus()')) === false);

  const text = `Ping while away ${suffix}`;
  await api('POST', `/conversations/${conversation}/messages`, bob.access_token, { client_msg_id: crypto.randomUUID(), text });
  const shown = await until('the Notify call at the notification server', () =>
    notifications().find((n) => n.body.includes(text)),
  );
  assert.equal(shown.summary, 'Bob Browser');
  assert.equal(shown.body, `Bob Browser: ${text}`);
  assert.ok(shown.actions.includes('default'), 'clickable: it offers the default action');

  // The unread count: in the window's title (mirrored from the web app's) for the taskbar.
  await until('the unread count in the window title', async () => (await windowTitles()).includes('(1) natter'));

  // The user clicks it: the server says so, and the app opens the conversation.
  await run('dbus-send', ['--session', '--type=method_call', '--dest=org.freedesktop.Notifications', '/org/freedesktop/Notifications', 'org.natter.Test.Click', `uint32:${shown.id}`]);
  await until('the conversation opened by the click', async () => (await app.path()) === `/c/${conversation}`);
});

test('a natter:// link given to a second launch opens the conversation in the first', async () => {
  await app.exec("window.dispatchEvent(new CustomEvent('natter:open', { detail: '' }))");
  await until('the list', async () => (await app.path()) === '/');
  // The second instance hands its argument over and exits.
  const second = await run(NATTER_DESKTOP_APP, [`natter://c/${conversation}`], { timeout: 20_000 });
  assert.ok(second, 'the second launch exited');
  await until('the conversation opened by the link', async () => (await app.path()) === `/c/${conversation}`);
});

test('a screenshot of the window is not blank', async () => {
  await app.find('.msg, [data-seq], .message', 10_000).catch(() => {});
  await sleep(500);
  const file = join(RESULTS, 'desktop-webdriver.png');
  writeFileSync(file, await app.screenshot());
  const n = await colours(file);
  assert.ok(n > 50, `${n} colours: the window looks blank`);
});

test('"Change server…" shows the first-start page with the current server, and can keep it', async () => {
  // What the tray's menu item does.
  await app.exec("location.assign('/setup.html')");
  const input = await app.find('input#server');
  await until('the current server filled in', async () => (await app.cmd('GET', `/element/${input}/property/value`)) === NATTER_URL);
  await app.click(await app.find('button#cancel:not([hidden])'));
  await app.find('button.conv', 20_000);
  assert.equal(await app.path(), '/');
});

test('a new start is still signed in (the session comes back from the keyring), in the window as it was left', async () => {
  await app.cmd('POST', '/window/rect', { width: 900, height: 640 });
  await until('the new size', async () => (await app.cmd('GET', '/window/rect')).width === 900);
  // Written a second after the change, not only at a clean exit (WebDriver kills the app).
  const saved = join(process.env.XDG_CONFIG_HOME, 'chat.natter.desktop', '.window-state.json');
  await until('the window state saved', () => existsSync(saved) && JSON.parse(readFileSync(saved, 'utf8')).main?.width === 900);
  await app.quit();
  app = null;
  app = await Driver.start([]);
  await app.find('button.conv', 30_000);
  assert.equal(await app.exec("return localStorage.getItem('natter.auth')"), null);
  const rect = await app.cmd('GET', '/window/rect');
  assert.deepEqual([rect.width, rect.height], [900, 640], 'the size is restored');
});

test('at first start the app asks for the server: an address where nothing answers is refused, a good one restarts it on that server', async () => {
  // A first start: no settings. (The last test: the app restarts out of WebDriver's hands.)
  await app?.quit();
  app = null;
  const settings = join(process.env.XDG_CONFIG_HOME, 'chat.natter.desktop', 'settings.json');
  rmSync(settings, { force: true });
  app = await Driver.start([]);
  const input = await app.find('input#server', 30_000);
  assert.equal(await app.path(), '/setup.html');
  await app.type(input, 'http://127.0.0.1:1');
  await app.click(await app.find('button#connect'));
  const error = await app.find('#error:not([hidden])');
  assert.match(await app.cmd('GET', `/element/${error}/text`), /Nothing answers at 127\.0\.0\.1:1/);
  assert.ok(!existsSync(settings), 'nothing stored');

  // Something unread meanwhile: the restarted app can only show it signed in on that server.
  await api('POST', `/conversations/${conversation}/messages`, bob.access_token, { client_msg_id: crypto.randomUUID(), text: 'Still there?' });
  await app.cmd('POST', `/element/${input}/clear`, {});
  await app.type(input, `${NATTER_URL}/`);
  // The app restarts at once: the click's answer may never come.
  await app.click(await app.find('button#connect')).catch(() => {});
  await until('the server stored', () => existsSync(settings) && JSON.parse(readFileSync(settings, 'utf8')).server === NATTER_URL);
  app = null; // its WebDriver session ends with the old process
  // The restarted app comes up on it, signed in (the keyring's session for that server), with
  // the unread count in its title.
  await until('the restarted app signed in', async () => (await windowTitles()).includes('(1) natter'), 30_000);
});
