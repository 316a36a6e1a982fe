// Push notifications in the service worker (docs/push.md, "The web app"). vite.config.ts appends
// this file to the generated sw.js. The server's Web Push plaintext is an alert
// {"type":"message", title, body, conversation_id, message_id, seq, badge, tag, silent} or a
// withdraw {"type":"withdraw", conversation_id, read_seq, badge, tag}. The worker has no access
// token: registering a subscription with the server is the page's job (src/push.ts).

const conversationPath = (id) => (id ? `/c/${id}` : '/');

function appWindows() {
  return self.clients.matchAll({ type: 'window', includeUncontrolled: true });
}

/** The app icon's badge is the user's total unread count, where the platform has one. */
function setBadge(count) {
  if (typeof count !== 'number' || !('setAppBadge' in navigator)) return Promise.resolve();
  return (count > 0 ? navigator.setAppBadge(count) : navigator.clearAppBadge()).catch(() => {});
}

/**
 * The conversation a window shows, asked over a MessageChannel (its URL here is the one it was
 * loaded with: the app routes with pushState); null when it does not answer within a second.
 */
function showing(w) {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    const timer = setTimeout(() => resolve(null), 1000);
    channel.port1.onmessage = (e) => {
      clearTimeout(timer);
      resolve((e.data && e.data.conversation_id) || null);
    };
    w.postMessage({ type: 'natter.showing' }, [channel.port2]);
  });
}

async function showAlert(push) {
  const watching = (await appWindows()).filter((w) => w.focused && w.visibilityState === 'visible');
  await setBadge(push.badge);
  // Someone looking at this conversation right now has it on screen already.
  if ((await Promise.all(watching.map(showing))).includes(push.conversation_id)) return;
  const tag = push.tag || push.conversation_id;
  await self.registration.showNotification(push.title || 'natter', {
    body: push.body || '',
    // One notification per conversation: a newer message replaces the one shown.
    tag,
    renotify: !push.silent,
    silent: !!push.silent,
    icon: '/icon-192.png',
    badge: '/icon-192.png',
    data: { conversation_id: push.conversation_id, message_id: push.message_id, seq: push.seq },
  });
}

/** The conversation was read (on any device) up to read_seq: what it shows of it goes. */
async function withdraw(push) {
  for (const shown of await self.registration.getNotifications()) {
    const data = shown.data || {};
    if (data.conversation_id === push.conversation_id && (data.seq ?? 0) <= push.read_seq) shown.close();
  }
  await setBadge(push.badge);
}

self.addEventListener('push', (e) => {
  let push = null;
  try {
    push = e.data ? e.data.json() : null;
  } catch {
    return; // not natter's JSON
  }
  if (push && push.type === 'message') e.waitUntil(showAlert(push));
  else if (push && push.type === 'withdraw') e.waitUntil(withdraw(push));
});

/** Opens the conversation: in a window of the app when there is one (the app routes itself), else a new one. */
async function openConversation(id) {
  const windows = await appWindows();
  const target = windows.find((w) => w.focused) || windows.find((w) => w.visibilityState === 'visible') || windows[0];
  if (!target) return self.clients.openWindow(conversationPath(id));
  target.postMessage({ type: 'natter.open', conversation_id: id || null });
  return target.focus().catch(() => {});
}

self.addEventListener('notificationclick', (e) => {
  e.notification.close();
  e.waitUntil(openConversation((e.notification.data || {}).conversation_id));
});

/**
 * The push service replaced the subscription: subscribe again with the server's key and ask the
 * open windows to register it (an app opened later registers it at start).
 */
self.addEventListener('pushsubscriptionchange', (e) => {
  e.waitUntil(
    (async () => {
      let key = e.oldSubscription && e.oldSubscription.options.applicationServerKey;
      if (!key) {
        const res = await fetch('/api/v1/push/vapid-public-key');
        if (!res.ok) return;
        const b64 = (await res.json()).public_key.replace(/-/g, '+').replace(/_/g, '/');
        key = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      }
      if (!e.newSubscription) await self.registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
      for (const w of await appWindows()) w.postMessage({ type: 'natter.resubscribed' });
    })(),
  );
});
