// The copy of the conversations and messages kept on this device, so a reload while offline
// shows them: an IndexedDB database per user (`natter.cache.<user id>`, so another account
// signing in on this browser never sees it), deleted at sign-out. What is kept, and bounded, is
// snapshot.ts (pure); this file only reads and writes it, with the raw IndexedDB API.
//
// Saved about a second after a change, and at once when the page is hidden or left, in one
// transaction that writes only the records that changed since the last save. Nothing waits on
// a save; a failed one is retried in full with the next change.
import type { UserView, Uuid } from '../natter/types';
import type { State } from './model';
import { changes, takeSnapshot, type SavedConv, type Snapshot } from './snapshot';

/** Bumped when the records change shape: an older database is emptied on open. */
const VERSION = 1;
const STORES = ['convs', 'users'] as const;
const SAVE_AFTER_MS = 1000;

export interface Saved {
  convs: SavedConv[];
  users: UserView[];
}

function dbName(user: Uuid): string {
  return `natter.cache.${user}`;
}

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

function committed(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new DOMException('transaction aborted', 'AbortError'));
  });
}

function openDb(user: Uuid): Promise<IDBDatabase> {
  const r = indexedDB.open(dbName(user), VERSION);
  r.onupgradeneeded = () => {
    const db = r.result;
    for (const name of [...db.objectStoreNames]) db.deleteObjectStore(name);
    for (const name of STORES) db.createObjectStore(name);
  };
  return request(r).then((db) => {
    // Another tab deletes it (sign-out) or upgrades it: let go at once.
    db.onversionchange = () => db.close();
    return db;
  });
}

const available = () => typeof indexedDB !== 'undefined';

/** The copy saved for `user`, or null when there is none (or no IndexedDB). */
export async function loadSaved(user: Uuid): Promise<Saved | null> {
  if (!available()) return null;
  const db = await openDb(user);
  try {
    const tx = db.transaction(STORES, 'readonly');
    const [convs, users] = await Promise.all([
      request(tx.objectStore('convs').getAll() as IDBRequest<SavedConv[]>),
      request(tx.objectStore('users').getAll() as IDBRequest<UserView[]>),
    ]);
    const valid = convs.filter((c) => typeof c?.summary?.conversation?.id === 'string' && (c.messages === null || Array.isArray(c.messages)));
    return valid.length ? { convs: valid, users: users.filter((u) => typeof u?.id === 'string') } : null;
  } finally {
    db.close();
  }
}

/** Deletes the copy saved for `user` (sign-out). */
export function deleteSaved(user: Uuid): Promise<void> {
  if (!available()) return Promise.resolve();
  // Blocked while another tab holds it open: that tab closes it on `versionchange`.
  return request(indexedDB.deleteDatabase(dbName(user))).then(() => {});
}

/** Keeps the copy of `user` up to date with the state `current` returns, once started. */
export class CacheWriter {
  private db: Promise<IDBDatabase> | null = null;
  /** What the database holds, as records of earlier snapshots; null: unknown, rewrite it all. */
  private written: Snapshot | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private saving = false;
  private dirty = false;
  private stopped = false;
  private readonly onHide = () => {
    if (document.visibilityState === 'hidden') this.flush();
  };
  private readonly onPageHide = () => this.flush();

  constructor(
    private readonly user: Uuid,
    private readonly current: () => State,
  ) {
    document.addEventListener('visibilitychange', this.onHide);
    window.addEventListener('pagehide', this.onPageHide);
  }

  /** The state changed: save it soon (at most one save a second, whatever the rate of changes). */
  changed(): void {
    if (this.stopped || !available()) return;
    this.dirty = true;
    this.timer ??= setTimeout(() => this.flush(), SAVE_AFTER_MS);
  }

  /** Saves now if anything changed. */
  flush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (!this.dirty || this.saving || this.stopped) return;
    this.dirty = false;
    this.saving = true;
    this.write(takeSnapshot(this.current()))
      .catch(() => {
        this.written = null;
        this.db = null;
      })
      .finally(() => {
        this.saving = false;
        // Changes during the save: another, a second on.
        if (this.dirty) {
          this.dirty = false;
          this.changed();
        }
      });
  }

  /** Stops saving and lets go of the database (before it is deleted). */
  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    document.removeEventListener('visibilitychange', this.onHide);
    window.removeEventListener('pagehide', this.onPageHide);
    void this.db?.then((db) => db.close()).catch(() => {});
    this.db = null;
  }

  private async write(snapshot: Snapshot): Promise<void> {
    const convs = changes(this.written?.convs ?? null, snapshot.convs);
    const users = changes(this.written?.users ?? null, snapshot.users);
    if (this.written && !convs.put.length && !convs.remove.length && !users.put.length && !users.remove.length) return;
    this.db ??= openDb(this.user).then((db) => {
      db.addEventListener('close', () => (this.db = null));
      return db;
    });
    const db = await this.db;
    if (this.stopped) return;
    let tx: IDBTransaction;
    try {
      tx = db.transaction(STORES, 'readwrite');
    } catch (error) {
      // Closed by a `versionchange` (another tab signed out): open again next time.
      this.db = null;
      throw error;
    }
    const convStore = tx.objectStore('convs');
    const userStore = tx.objectStore('users');
    if (!this.written) {
      convStore.clear();
      userStore.clear();
    }
    for (const [key, value] of convs.put) convStore.put(value, key);
    for (const key of convs.remove) convStore.delete(key);
    for (const [key, value] of users.put) userStore.put(value, key);
    for (const key of users.remove) userStore.delete(key);
    await committed(tx);
    this.written = snapshot;
  }
}
