// The app's store: the current State (state/model.ts), changed only by dispatching actions to the
// pure reducer (state/reducer.ts), and the side effects around it: the session and its events,
// fetching pages, members and users, read receipts, notifications, timers. Components read it
// through `useSelector`, which re-renders a component only when the slice it selects changes.
import { useEffect, useReducer, useRef } from 'preact/hooks';
import { Api, ApiError, Outbox, Session, type Upload, type Command, type EventFrame, type MessageView, type UserView, type Uuid } from './natter';
import { desktop } from './desktop';
import { forgetPush, syncPush } from './push';
import { CacheWriter, deleteSaved, loadSaved } from './state/cache';
import { initialState, type Conv, type State } from './state/model';
import { reduce, type Action, type PageMode } from './state/reducer';
import { convTitle, previewText, sortedConversations, userName } from './state/select';
import { forgetDrafts } from './ui/drafts';

export { previewText };
export type { Conv as ConvState };

export const PAGE = 100;
/** History pages while jumping to a search result: the server's largest. */
const JUMP_PAGE = 200;
/** A window around a message starts this many messages before it. */
const AROUND_BEFORE = 30;
/** How long opening a conversation waits for the saved copy (state/cache.ts) at most. */
const RESTORE_WAIT_MS = 2000;

type Listener = () => void;

export class Store {
  readonly api: Api;
  session: Session | null = null;
  outbox: Outbox | null = null;
  state: State;
  private listeners = new Set<Listener>();
  private userRequests = new Set<Uuid>();
  private readTimers = new Map<Uuid, ReturnType<typeof setTimeout>>();
  private emitQueued = false;
  /** The copy of the state kept on this device, and its restoring at start. */
  private cache: CacheWriter | null = null;
  private restored: Promise<void> = Promise.resolve();
  /** Conversations whose newest page is being fetched. */
  private latestLoading = new Set<Uuid>();
  private newerLoading = new Set<Uuid>();

  constructor() {
    // In the desktop app: its server, and the tokens in the OS keyring (desktop.ts).
    this.api = new Api(desktop?.server ?? '', desktop?.tokens);
    this.state = initialState(this.api.currentUser);
    this.api.onSignedOut = () => this.reset();
    this.subscribe(() => this.cache?.changed());
  }

  // Read-only views for the code outside components (and the end-to-end tests' window.__natter).
  get me(): UserView | null {
    return this.state.me;
  }
  get activeId(): Uuid | null {
    return this.state.activeId;
  }
  get convs(): ReadonlyMap<Uuid, Conv> {
    return this.state.convs;
  }
  get users(): ReadonlyMap<Uuid, UserView> {
    return this.state.users;
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  dispatch(action: Action): void {
    const next = reduce(this.state, action);
    if (next === this.state) return;
    this.state = next;
    // One notification per microtask however many actions ran.
    if (this.emitQueued) return;
    this.emitQueued = true;
    queueMicrotask(() => {
      this.emitQueued = false;
      for (const l of this.listeners) l();
    });
  }

  // --- lifecycle ---
  async signIn(mode: 'in' | 'up', username: string, password: string, displayName?: string): Promise<void> {
    const tokens =
      mode === 'up' ? await this.api.register(username, password, displayName) : await this.api.login(username, password);
    this.dispatch({ type: 'signed-in', me: tokens.user });
    this.start();
  }

  async signOut(): Promise<void> {
    // Taken first: the logout's own sign-out hook resets `me`.
    const user = this.me?.id;
    try {
      await this.api.logout();
    } catch {
      /* signed out locally anyway */
    }
    await forgetPush().catch(() => {});
    if (user) forgetDrafts(user);
    this.reset();
  }

  reset(): void {
    // Signed out (by the user, or the session is gone for good): the saved copy goes too.
    const user = this.me?.id;
    this.cache?.stop();
    this.cache = null;
    if (user) void deleteSaved(user).catch(() => {});
    this.session?.close();
    this.session = null;
    this.outbox = null;
    this.dispatch({ type: 'signed-out' });
  }

  start(): void {
    if (!this.me || this.session) return;
    const session = new Session(this.api);
    this.session = session;
    this.outbox = new Outbox(session, `natter.outbox.${this.me.id}`);
    this.outbox.subscribe(() => this.dispatch({ type: 'outbox-changed' }));
    this.outbox.onSent = (m) => this.dispatch({ type: 'message', message: m });
    session.onEvent((e) => this.onEvent(e));
    void syncPush(this.api).catch(() => {});
    // My profile as it is now (renamed on another device since these tokens were saved).
    this.api.me().then((u) => this.profileChanged(u), () => {});
    this.restore(this.me.id);
    let everConnected = false;
    session.onState((state) => {
      const now = Date.now();
      this.dispatch({ type: 'connection', state, everConnected, now });
      if (state === 'connected') {
        if (!everConnected) void this.loadConversations();
        // The open conversation shows saved messages, or its first page failed: fetch it now.
        const open = this.activeId ? this.convs.get(this.activeId) : undefined;
        if (open && (!open.loaded || open.savedMessages)) void this.loadLatest(open.summary.conversation.id);
        everConnected = true;
        // The "Back online" banner goes away by itself.
        setTimeout(() => this.dispatch({ type: 'connection', state: session.state, everConnected, now: Date.now() }), 3100);
      }
    });
    const online = () => this.dispatch({ type: 'browser-online', online: navigator.onLine });
    window.addEventListener('online', online);
    window.addEventListener('offline', online);
    online();
    // Expose for end-to-end tests (dropping the socket as a network failure would).
    (window as unknown as { __natter: unknown }).__natter = { store: this, session };
  }

  /** Shows the copy saved on this device while the network loads, then keeps it up to date. */
  private restore(user: Uuid): void {
    const done = loadSaved(user)
      .then((saved) => {
        if (saved && this.me?.id === user) this.dispatch({ type: 'cached', convs: saved.convs, users: saved.users });
      })
      .catch(() => {})
      .finally(() => {
        // Saving starts once the copy is read: an earlier save would write an empty state over it.
        if (this.me?.id !== user || !this.session || this.cache) return;
        this.cache = new CacheWriter(user, () => this.state);
        this.cache.changed();
      });
    this.restored = Promise.race([done, new Promise<void>((resolve) => setTimeout(resolve, RESTORE_WAIT_MS))]);
  }

  async loadConversations(): Promise<void> {
    try {
      const list = await this.api.conversations();
      this.dispatch({ type: 'summaries', list });
      // With presence: a peer restored from the saved copy has none.
      for (const s of list) if (s.peer) this.user(s.peer, true);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) this.reset();
    }
  }

  // --- my account ---
  /** Renames me (PATCH /users/me): `me`, my entry among the users and the saved tokens follow. */
  async rename(displayName: string): Promise<UserView> {
    const user = await this.api.updateProfile(displayName);
    this.profileChanged(user);
    return user;
  }

  private profileChanged(user: UserView): void {
    if (user.id !== this.me?.id) return;
    this.dispatch({ type: 'users', users: [user] });
    this.dispatch({ type: 'me', me: user });
    void this.api.rememberUser(user).catch(() => {});
  }

  // --- selectors for code outside components ---
  sortedConversations(): Conv[] {
    return sortedConversations(this.state);
  }

  /** A user, fetched once when unknown (or, `withPresence`, when its presence is). */
  user(id: Uuid, withPresence = false): UserView | undefined {
    const user = this.state.users.get(id);
    if ((!user || (withPresence && user.online === undefined)) && !this.userRequests.has(id)) {
      this.userRequests.add(id);
      this.api
        .user(id)
        .then((u) => this.dispatch({ type: 'users', users: [u] }))
        .catch(() => this.userRequests.delete(id));
    }
    return user;
  }

  displayName(id: Uuid): string {
    return userName(this.user(id));
  }

  title(c: Conv): string {
    if (c.summary.peer) this.user(c.summary.peer);
    return convTitle(this.state, c);
  }

  // --- conversations ---
  upsertSummary(summary: Conv['summary']): void {
    this.dispatch({ type: 'summary', summary });
    if (summary.peer) {
      // A peer cached without presence was dropped by the reducer: fetch it again.
      this.userRequests.delete(summary.peer);
      this.user(summary.peer);
    }
  }

  async open(id: Uuid | null): Promise<void> {
    this.dispatch({ type: 'open', id });
    if (!id) return;
    // The saved copy first: a conversation it has opens without the network.
    await this.restored;
    if (!this.convs.has(id)) {
      try {
        this.upsertSummary(await this.api.conversation(id));
        this.dispatch({ type: 'open', id });
      } catch (error) {
        if (this.activeId === id && error instanceof ApiError && error.status < 500) this.dispatch({ type: 'not-found', id });
        else if (this.activeId === id) this.dispatch({ type: 'open', id: null });
        return;
      }
    }
    const c = this.convs.get(id);
    if (c && (!c.loaded || c.savedMessages)) await this.loadLatest(id);
    this.markRead(id);
  }

  /** The newest page of `id`: its first, or the server's in place of saved messages, which stay
   *  on screen if the network fails (offline). */
  private async loadLatest(id: Uuid): Promise<void> {
    if (this.latestLoading.has(id)) return;
    this.latestLoading.add(id);
    if (!this.convs.get(id)?.loaded) this.dispatch({ type: 'loading', id, loaded: true });
    void this.loadMembers(id);
    try {
      const page = await this.api.history(id, { limit: PAGE });
      this.addPage(id, page, 'newest');
    } catch {
      if (!this.convs.get(id)?.savedMessages) this.dispatch({ type: 'loading', id, loaded: false });
    } finally {
      this.latestLoading.delete(id);
    }
  }

  /** Open `id` with `seq` loaded and ask the list to show it: older pages when it is near the
   *  loaded span, else a window of history around it (the list then loads newer pages as it is
   *  scrolled down, and its jump button goes back to the present). */
  async jumpTo(id: Uuid, seq: number): Promise<void> {
    await this.open(id);
    for (let round = 0; this.activeId === id; round++) {
      const c = this.convs.get(id);
      if (!c || !c.loaded) return;
      if (c.oldest !== null && c.oldest <= seq && seq <= c.newest) break;
      if (c.oldest === null || c.loadingOlder) {
        // The first page (asked for by an earlier open) or a list's page is on its way.
        if (round > 500) return;
        await new Promise((done) => setTimeout(done, 20));
        continue;
      }
      if (seq < c.oldest && c.oldest - seq <= JUMP_PAGE) {
        const before = c.oldest;
        await this.loadOlder(id, JUMP_PAGE);
        if (this.convs.get(id)?.oldest === before) return;
        continue;
      }
      try {
        const from = Math.max(0, seq - AROUND_BEFORE);
        const page = await this.api.history(id, { after: from, limit: PAGE });
        if (this.activeId !== id || !page.some((m) => m.seq === seq)) return;
        this.addPage(id, page, 'around');
      } catch {
        return;
      }
    }
    if (this.activeId === id) this.dispatch({ type: 'focus', focus: { conv: id, seq } });
  }

  /** The page after the loaded span, when it ends before the present (a window opened back in
   *  the past, scrolled down). */
  async loadNewer(id: Uuid): Promise<void> {
    const c = this.convs.get(id);
    if (!c || !c.loaded || !c.window || this.newerLoading.has(id)) return;
    this.newerLoading.add(id);
    try {
      this.addPage(id, await this.api.history(id, { after: c.newest, limit: PAGE }), 'newer');
    } catch {
      /* tried again on the next scroll */
    } finally {
      this.newerLoading.delete(id);
    }
  }

  /** Back to the newest messages from a window in the past. */
  async toPresent(id: Uuid): Promise<void> {
    try {
      this.addPage(id, await this.api.history(id, { limit: PAGE }), 'newest');
    } catch {
      /* the button stays */
    }
  }

  async loadOlder(id: Uuid, limit = PAGE): Promise<void> {
    const c = this.convs.get(id);
    // Not behind saved messages: the newest page replaces them.
    if (!c || !c.loaded || c.savedMessages || c.loadingOlder || c.oldest === null || c.oldest <= 1) return;
    this.dispatch({ type: 'loading-older', id, loading: true });
    try {
      this.addPage(id, await this.api.history(id, { before: c.oldest, limit }), 'older');
    } finally {
      this.dispatch({ type: 'loading-older', id, loading: false });
    }
  }

  private addPage(id: Uuid, page: MessageView[], mode: PageMode): void {
    this.dispatch({ type: 'page', id, page, mode });
    let maxMod = 0;
    for (const m of page) {
      maxMod = Math.max(maxMod, m.mod_seq);
      this.user(m.sender_id);
    }
    if (page.length) this.session?.track(id, maxMod);
  }

  async loadMembers(id: Uuid): Promise<void> {
    try {
      const members = await this.api.members(id);
      this.dispatch({ type: 'members', id, members });
      for (const m of members) this.user(m.user_id, true);
    } catch {
      /* shown as loading */
    }
  }

  /** Marks the active conversation read up to its newest message (debounced). */
  markRead(id: Uuid): void {
    const c = this.convs.get(id);
    if (!c || document.visibilityState !== 'visible' || this.activeId !== id) return;
    const seq = c.summary.conversation.last_seq;
    if (seq > c.summary.me.read_seq) {
      clearTimeout(this.readTimers.get(id));
      this.readTimers.set(
        id,
        setTimeout(() => {
          this.session
            ?.request({ type: 'read', conversation_id: id, seq })
            .then((ack) => this.dispatch({ type: 'my-member', member: ack.member }))
            .catch(() => {});
        }, 150),
      );
    }
    this.dispatch({ type: 'read-locally', id });
  }

  // --- commands ---
  send(id: Uuid, text: string, replyTo?: number, uploads: Upload[] = []): void {
    const c = this.convs.get(id);
    const mentions = c ? this.mentionsIn(c, text) : [];
    this.outbox?.add(
      {
        conversation_id: id,
        text,
        ...(replyTo !== undefined ? { reply_to_seq: replyTo } : {}),
        ...(mentions.length ? { mentions } : {}),
      },
      uploads,
    );
  }

  mentionsIn(c: Conv, text: string): Uuid[] {
    const names = new Set([...text.matchAll(/@([A-Za-z0-9_.-]+)/g)].map((m) => m[1].toLowerCase()));
    if (!names.size || !c.members) return [];
    return c.members
      .map((m) => this.users.get(m.user_id))
      .filter((u): u is UserView => !!u && names.has(u.username.toLowerCase()))
      .map((u) => u.id);
  }

  /** Edit, delete, react or unreact: the ack carries the message's new state. */
  async command(cmd: Extract<Command, { type: 'edit' | 'delete' | 'react' | 'unreact' }>): Promise<void> {
    const ack = await this.session?.request(cmd);
    if (ack) this.dispatch({ type: 'message', message: ack.message });
  }

  typing(id: Uuid): void {
    this.session?.request({ type: 'typing', conversation_id: id }).catch(() => {});
  }

  // --- events ---
  onEvent(e: EventFrame): void {
    const before = this.state;
    const now = Date.now();
    this.dispatch({ type: 'event', event: e, now });
    switch (e.type) {
      case 'message.new': {
        const id = e.message.conversation_id;
        const was = before.convs.get(id)?.summary.unread_count ?? 0;
        const c = this.convs.get(id);
        if (c && c.summary.unread_count > was) {
          this.notify(c, e.message);
          if (this.activeId === id) this.markRead(id);
        }
        this.user(e.message.sender_id);
        break;
      }
      case 'member.added':
        // A direct conversation's peer comes with the summary.
        if (e.member.user_id === this.me?.id && !before.convs.has(e.conversation.id) && e.conversation.kind === 'direct') {
          this.api.conversation(e.conversation.id).then((s) => this.upsertSummary(s)).catch(() => {});
        } else this.user(e.member.user_id);
        break;
      case 'typing': {
        const until = this.state.typing.get(e.conversation_id)?.get(e.user_id);
        if (until !== undefined) setTimeout(() => this.dispatch({ type: 'typing-expired', conv: e.conversation_id, user: e.user_id, until }), e.expires_in_ms + 50);
        break;
      }
      case 'presence':
        this.user(e.user_id);
        break;
      case 'user.updated':
        // The next page load starts with my new name.
        if (e.user.id === this.me?.id) void this.api.rememberUser(e.user).catch(() => {});
        break;
    }
  }

  private notify(c: Conv, m: MessageView): void {
    if (c.summary.me.muted) return;
    const body = () => `${this.displayName(m.sender_id)}: ${previewText(m)}`.slice(0, 200);
    if (desktop) {
      // A native notification whenever the window is not focused (or hidden in the tray).
      if (!document.hasFocus() || document.visibilityState !== 'visible') desktop.notify(c.summary.conversation.id, this.title(c), body());
      return;
    }
    if (document.visibilityState === 'visible') return;
    if (typeof Notification === 'undefined' || Notification.permission !== 'granted') return;
    try {
      const n = new Notification(this.title(c), {
        body: body(),
        tag: c.summary.conversation.id,
      });
      n.onclick = () => {
        window.focus();
        void this.open(c.summary.conversation.id);
      };
    } catch {
      /* some platforms only allow notifications from a service worker */
    }
  }
}

export const store = new Store();

/** The slice `select` picks from the state; the component re-renders only when it changes
 *  (by `equal`, identity by default). */
export function useSelector<T>(select: (s: State) => T, equal: (a: T, b: T) => boolean = Object.is): T {
  const [, force] = useReducer((n: number, _a: number) => n + 1, 0);
  const value = select(store.state);
  const latest = useRef({ select, value, equal });
  latest.current = { select, value, equal };
  useEffect(
    () =>
      store.subscribe(() => {
        const { select, value, equal } = latest.current;
        if (!equal(select(store.state), value)) force(0);
      }),
    [],
  );
  return value;
}

/** Arrays equal item by item (selectors that build a list). */
export function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  return a.length === b.length && a.every((x, i) => Object.is(x, b[i]));
}
