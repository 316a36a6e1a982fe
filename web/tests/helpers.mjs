// Shared helpers for the end-to-end tests: Debian's Chromium driven by playwright-core (no
// browser download), a fresh profile per context, REST seeding with fetch.
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export const BASE = process.env.NATTER_URL ?? 'http://127.0.0.1:8080';
export const RESULTS = join(dirname(fileURLToPath(import.meta.url)), '..', 'test-results');
mkdirSync(RESULTS, { recursive: true });

/** Every wait in these tests is bounded by this. */
export const WAIT = { timeout: 15_000 };

export async function launch(extraArgs = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...extraArgs,
    ],
  });
}

/** A fresh browser context (its own storage) and page, collecting console errors. */
export async function openPage(browser, options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT.timeout);
  const errors = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  page.on('pageerror', (error) => errors.push(String(error)));
  return { context, page, errors };
}

export function uniqueName(prefix) {
  return `${prefix}${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
}

export async function signUp(page, username, displayName, password = 'correct horse battery') {
  await page.goto(BASE + '/');
  await page.getByRole('button', { name: 'Create an account' }).click();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel(/Display name/).fill(displayName);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign up' }).click();
  await page.getByRole('button', { name: 'New message' }).waitFor(WAIT);
  await page.locator('.conn[data-state="connected"]').waitFor({ state: 'attached', ...WAIT });
}

/** REST helper for seeding: register and return an authenticated caller. */
export async function apiUser(username, password = 'correct horse battery') {
  const res = await fetch(`${BASE}/api/v1/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password, display_name: username }),
  });
  if (!res.ok) throw new Error(`register ${username}: ${res.status} ${await res.text()}`);
  const tokens = await res.json();
  const call = async (method, path, body) => {
    const r = await fetch(`${BASE}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${tokens.access_token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
    return r.status === 204 ? undefined : r.json();
  };
  return { user: tokens.user, tokens, call };
}

/** Saves a screenshot into web/test-results/. */
export async function shot(page, name) {
  await page.screenshot({ path: join(RESULTS, `${name}.png`) });
}

/** Texts of the message rows the list currently renders, in order. */
export async function renderedTexts(page) {
  return page.locator('.messages .msg .text').allTextContents();
}

const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

/** No serious or critical axe-core violations on the page (its context needs `bypassCSP`). */
export async function audit(page, what) {
  await page.addScriptTag({ path: axePath });
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  assert.deepEqual(bad, [], `axe on ${what}`);
}
