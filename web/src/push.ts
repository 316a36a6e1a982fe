// Web Push on this device (docs/push.md, "The web app"): subscribe the browser with the server's
// VAPID key and register the subscription as a device of this session, or undo both. The service
// worker (src/sw-push.js) shows what arrives. A flag in localStorage remembers that the user
// turned push on here, so the app re-registers the subscription at start (the push service may
// have replaced it while no page was open) and stops on sign-out.
import { desktop } from './desktop';
import { ApiError, type Api, type WebPushSubscriptionJson } from './natter';

const FLAG = 'natter.push';

/** `unsupported`: this browser has no Push API or the server no Web Push (404 on the key). */
export type PushState = 'unsupported' | 'denied' | 'off' | 'on';

function browserSupports(): boolean {
  return typeof Notification !== 'undefined' && 'serviceWorker' in navigator && 'PushManager' in window;
}

/** Where push can work: the browser has the Push API and this is a build with its service worker (`vite dev` has none);
 *  not the desktop app, whose shell shows native notifications itself. */
const available = () => browserSupports() && import.meta.env.PROD && !desktop;

/**
 * The app's service worker registration. Subscribing needs it `active` (waits for it, at most 10 s);
 * reading or dropping the subscription takes it as it is, so a worker that never starts holds
 * nothing up.
 */
async function registration(active: boolean): Promise<ServiceWorkerRegistration | null> {
  if (!available()) return null;
  if (!active) return (await navigator.serviceWorker.getRegistration('/')) ?? null;
  const late = new Promise<null>((resolve) => setTimeout(() => resolve(null), 10_000));
  return Promise.race([navigator.serviceWorker.ready, late]);
}

/** The server's VAPID public key, or null when Web Push is off there. */
async function serverKey(api: Api): Promise<string | null> {
  try {
    return await api.vapidPublicKey();
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  }
}

function fromBase64Url(text: string): Uint8Array<ArrayBuffer> {
  const bytes = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(bytes, (c) => c.charCodeAt(0));
}

function toBase64Url(buffer: ArrayBuffer): string {
  return btoa(String.fromCharCode(...new Uint8Array(buffer)))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');
}

async function isRegistered(api: Api): Promise<boolean> {
  return (await api.devices()).some((d) => d.current && d.kind === 'web_push');
}

export async function pushState(api: Api): Promise<PushState> {
  if (!available() || !(await serverKey(api))) return 'unsupported';
  if (Notification.permission === 'denied') return 'denied';
  const subscription = await (await registration(false))?.pushManager.getSubscription();
  return subscription && localStorage.getItem(FLAG) === 'on' && (await isRegistered(api)) ? 'on' : 'off';
}

/** This browser's subscription for `key`: the current one, or a new one. */
async function subscribe(reg: ServiceWorkerRegistration, key: string): Promise<PushSubscription> {
  const current = await reg.pushManager.getSubscription();
  const currentKey = current?.options?.applicationServerKey;
  if (current && (!currentKey || toBase64Url(currentKey) === key)) return current;
  await current?.unsubscribe(); // made with another key: the server changed it
  return reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: fromBase64Url(key) });
}

async function register(api: Api, reg: ServiceWorkerRegistration, key: string): Promise<void> {
  // The DOM types every member of `toJSON()` as optional; the server takes exactly these.
  const { endpoint, expirationTime, keys } = (await subscribe(reg, key)).toJSON();
  if (!endpoint || !keys?.p256dh || !keys.auth) throw new Error('The browser gave an incomplete push subscription');
  const subscription: WebPushSubscriptionJson = { endpoint, expirationTime, keys: { p256dh: keys.p256dh, auth: keys.auth } };
  await api.registerDevice({ kind: 'web_push', subscription });
}

/** Turns push on for this browser and session; asks for the permission first. */
export async function enablePush(api: Api): Promise<void> {
  if ((await Notification.requestPermission()) !== 'granted') throw new Error('Notifications are blocked for this site');
  const reg = await registration(true);
  const key = await serverKey(api);
  if (!reg || !key) throw new Error('Push notifications are not available here');
  await register(api, reg, key);
  localStorage.setItem(FLAG, 'on');
}

/** Turns push off: the session's Web Push devices are deleted and the browser unsubscribed. */
export async function disablePush(api: Api): Promise<void> {
  localStorage.removeItem(FLAG);
  for (const device of await api.devices()) if (device.current && device.kind === 'web_push') await api.deleteDevice(device.id);
  await (await (await registration(false))?.pushManager.getSubscription())?.unsubscribe();
}

/** At start and after the worker re-subscribed: the server gets this browser's current subscription. */
export async function syncPush(api: Api): Promise<void> {
  if (localStorage.getItem(FLAG) !== 'on' || !available() || Notification.permission !== 'granted') return;
  const reg = await registration(true);
  const key = await serverKey(api);
  if (reg && key) await register(api, reg, key);
}

/** Sign-out: the server already dropped the session's devices; the browser stops receiving. */
export async function forgetPush(): Promise<void> {
  localStorage.removeItem(FLAG);
  await (await (await registration(false))?.pushManager.getSubscription())?.unsubscribe();
}
