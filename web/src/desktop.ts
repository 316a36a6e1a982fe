// Inside the desktop app (desktop/, Tauri 2 around this same build), the shell says so before
// the app starts, with an initialization script: `window.__NATTER_DESKTOP__ = { server }`, the
// server chosen at its first start. Then the API's base is that server, the session's tokens
// live in the OS keyring (the shell's `session_*` commands) instead of localStorage, and a
// message arriving while the window is not focused is a native notification (`notify`), a
// click on which opens the conversation (the shell dispatches `natter:open`, main.tsx). In a
// browser `desktop` is null and nothing here runs.
import type { TokenStore } from './natter/rest';
import type { AuthTokens } from './natter/types';

type Invoke = (cmd: string, args?: Record<string, unknown>) => Promise<unknown>;

export interface Desktop {
  /** The server's base URL (`https://chat.example.com`). */
  server: string;
  /** The session's tokens, read from the keyring once at start and written at each change. */
  tokens: TokenStore;
  notify(conversationId: string, title: string, body: string): void;
}

const shell = window as Window & {
  __NATTER_DESKTOP__?: { server?: string | null };
  __TAURI_INTERNALS__?: { invoke?: Invoke };
};

async function connect(server: string, invoke: Invoke): Promise<Desktop> {
  let saved: AuthTokens | null = null;
  try {
    const raw = (await invoke('session_get')) as string | null;
    saved = raw ? (JSON.parse(raw) as AuthTokens) : null;
  } catch (error) {
    console.warn('natter: the keyring has no session for us', error);
  }
  // Writes in order: a refresh's tokens never land before the ones they replace.
  let writes: Promise<unknown> = Promise.resolve();
  const tokens: TokenStore = {
    load: () => saved,
    save(next) {
      saved = next;
      const value = next ? JSON.stringify(next) : null;
      writes = writes
        .then(() => (value ? invoke('session_set', { value }) : invoke('session_delete')))
        .catch((error) => console.warn('natter: the keyring refused the session', error));
    },
  };
  return {
    server,
    tokens,
    notify(conversationId, title, body) {
      invoke('notify', { conversationId, title, body }).catch(() => {});
    },
  };
}

const server = shell.__NATTER_DESKTOP__?.server;
const invoke = shell.__TAURI_INTERNALS__?.invoke;
export const desktop: Desktop | null = server && invoke ? await connect(server, invoke) : null;
