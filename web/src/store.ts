// The app's state: conversations, loaded messages, members, users, presence, typing. One
// mutable store with a version counter; components subscribe and re-render on change.
import { useEffect, useReducer } from 'preact/hooks';
import {
  Api,
  ApiError,
  Outbox,
  Session,
  type Upload,
  type Command,
  type ConnectionState,
  type ConversationSummaryView,
  type EventFrame,
  type MemberView,
  type MessageView,
  type UserView,
  type Uuid,
} from './natter';
import { forgetPush, syncPush } from './push';
import { forgetDrafts } from './ui/drafts';

export const PAGE = 100;
/** History pages while jumping to a search result: the server's largest. */
const JUMP_PAGE = 200;

export interface ConvState {
  summary: ConversationSummaryView;
  /** Loaded messages by seq; seqs are gap-free so [oldest..newest] is contiguous. */
  messages: Map<number, MessageView>;
  oldest: number | null;
  newest: number;
  loaded: boolean;
  loadingOlder: boolean;
  members: MemberView[] | null;
  typing: Map<Uuid, number>;
}

type Listener = () => void;

export class Store {
  readonly api: Api;
  session: Session | null = null;
  outbox: Outbox | null = null;
  me: UserView | null;
  convs = new Map<Uuid, ConvState>();
  users = new Map<Uuid, UserView>();
  connection: ConnectionState | 'offline' = 'connecting';
  backOnlineUntil = 0;
  activeId: Uuid | null = null;
  listReady = false;
  version = 0;
  private listeners = new Set<Listener>();
  private userRequests = new Set<Uuid>();
  private readTimers = new Map<Uuid, ReturnType<typeof setTimeout>>();
  private emitQueued = false;

  constructor() {
    this.api = new Api('');
    this.me = this.api.currentUser;
    this.api.onSignedOut = () => this.reset();
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Batches change notifications into one per microtask. */
  emit(): void {
    this.version++;
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
    this.me = tokens.user;
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
    this.session?.close();
    this.session = null;
    this.outbox = null;
    this.me = null;
    this.convs.clear();
    this.activeId = null;
    this.listReady = false;
    this.emit();
  }

  start(): void {
    if (!this.me || this.session) return;
    this.users.set(this.me.id, this.me);
    const session = new Session(this.api);
    this.session = session;
    this.outbox = new Outbox(session, `natter.outbox.${this.me.id}`);
    this.outbox.subscribe(() => this.emit());
    this.outbox.onSent = (m) => this.upsertMessage(m, false);
    session.onEvent((e) => this.onEvent(e));
    void syncPush(this.api).catch(() => {});
    let everConnected = false;
    let connectedOnce = false;
    session.onState((state) => {
      if (state === 'connected') {
        if (everConnected) this.backOnlineUntil = Date.now() + 3000;
        everConnected = true;
        if (!connectedOnce) {
          connectedOnce = true;
          void this.loadConversations();
        }
        setTimeout(() => this.emit(), 3100);
      } else if (state === 'connecting' && everConnected) {
        this.backOnlineUntil = 0;
      }
      this.connection = state === 'connecting' && everConnected ? 'offline' : state;
      this.emit();
    });
    // Expose for end-to-end tests (dropping the socket as a network failure would).
    (window as unknown as { __natter: unknown }).__natter = { store: this, session };
  }

  async loadConversations(): Promise<void> {
    try {
      const list = await this.api.conversations();
      for (const summary of list) this.upsertSummary(summary);
      this.listReady = true;
      this.emit();
      const ids = new Set<Uuid>();
      for (const s of list) if (s.peer) ids.add(s.peer);
      for (const id of ids) this.user(id);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) this.reset();
    }
  }

  // --- selectors ---
  sortedConversations(): ConvState[] {
    return [...this.convs.values()].sort(
      (a, b) => b.summary.conversation.last_activity_ms - a.summary.conversation.last_activity_ms,
    );
  }

  /** A user, fetched once when unknown. */
  user(id: Uuid): UserView | undefined {
    const user = this.users.get(id);
    if (!user && !this.userRequests.has(id)) {
      this.userRequests.add(id);
      this.api
        .user(id)
        .then((u) => {
          this.users.set(id, { ...u, ...pick(this.users.get(id)) });
          this.emit();
        })
        .catch(() => this.userRequests.delete(id));
    }
    return user;
  }

  displayName(id: Uuid): string {
    return this.user(id)?.display_name || this.user(id)?.username || '…';
  }

  title(c: ConvState): string {
    const conv = c.summary.conversation;
    if (conv.kind === 'group') return conv.name || 'Group';
    return c.summary.peer ? this.displayName(c.summary.peer) : 'Direct message';
  }

  // --- conversations ---
  upsertSummary(summary: ConversationSummaryView): ConvState {
    const id = summary.conversation.id;
    let c = this.convs.get(id);
    if (!c) {
      c = {
        summary,
        messages: new Map(),
        oldest: null,
        newest: 0,
        loaded: false,
        loadingOlder: false,
        members: null,
        typing: new Map(),
      };
      this.convs.set(id, c);
    } else {
      c.summary = summary;
    }
    if (summary.peer) {
      // A user cached from a search carries no presence; now that we share a conversation it does.
      const peer = this.users.get(summary.peer);
      if (peer && peer.online === undefined && !this.userRequests.has(summary.peer)) this.users.delete(summary.peer);
      this.user(summary.peer);
    }
    this.emit();
    return c;
  }

  async open(id: Uuid | null): Promise<void> {
    this.activeId = id;
    this.emit();
    if (!id) return;
    let c = this.convs.get(id);
    if (!c) {
      try {
        c = this.upsertSummary(await this.api.conversation(id));
      } catch {
        this.activeId = null;
        this.emit();
        return;
      }
    }
    if (!c.loaded) {
      c.loaded = true;
      void this.loadMembers(id);
      try {
        const page = await this.api.history(id, { limit: PAGE });
        this.addPage(c, page);
        c.oldest = page.length ? page[0].seq : c.summary.conversation.last_seq + 1;
        if (page.length === 0) c.oldest = 1;
      } catch {
        c.loaded = false;
      }
      this.emit();
    }
    this.markRead(id);
  }

  /** The message a search result opened: the list scrolls to it and marks it, once. */
  focus: { conv: Uuid; seq: number } | null = null;

  /** Open `id` with `seq` loaded (older pages, the largest the server gives, until it is) and
   *  ask the list to show it. */
  async jumpTo(id: Uuid, seq: number): Promise<void> {
    await this.open(id);
    const c = this.convs.get(id);
    if (!c || this.activeId !== id) return;
    while ((c.oldest === null || c.oldest > seq) && this.activeId === id) {
      if (c.oldest === null || c.loadingOlder) {
        // The first page (asked for by an earlier open) or a list's page is on its way.
        if (!c.loaded) return;
        await new Promise((done) => setTimeout(done, 20));
        continue;
      }
      const before = c.oldest;
      await this.loadOlder(id, JUMP_PAGE);
      if (c.oldest === before) return;
    }
    if (this.activeId !== id) return;
    this.focus = { conv: id, seq };
    this.emit();
  }

  async loadOlder(id: Uuid, limit = PAGE): Promise<void> {
    const c = this.convs.get(id);
    if (!c || !c.loaded || c.loadingOlder || c.oldest === null || c.oldest <= 1) return;
    c.loadingOlder = true;
    this.emit();
    try {
      const page = await this.api.history(id, { before: c.oldest, limit });
      this.addPage(c, page);
      c.oldest = page.length ? page[0].seq : 1;
    } finally {
      c.loadingOlder = false;
      this.emit();
    }
  }

  private addPage(c: ConvState, page: MessageView[]): void {
    let maxMod = 0;
    for (const m of page) {
      const have = c.messages.get(m.seq);
      if (!have || have.mod_seq < m.mod_seq) c.messages.set(m.seq, m);
      c.newest = Math.max(c.newest, m.seq);
      maxMod = Math.max(maxMod, m.mod_seq);
      this.user(m.sender_id);
    }
    if (page.length) this.session?.track(c.summary.conversation.id, maxMod);
  }

  async loadMembers(id: Uuid): Promise<void> {
    const c = this.convs.get(id);
    if (!c) return;
    try {
      c.members = await this.api.members(id);
      for (const m of c.members) this.user(m.user_id);
      this.emit();
    } catch {
      /* shown as loading */
    }
  }

  /** Marks the active conversation read up to its newest message (debounced). */
  markRead(id: Uuid): void {
    const c = this.convs.get(id);
    if (!c || document.visibilityState !== 'visible' || this.activeId !== id) return;
    const seq = c.summary.conversation.last_seq;
    if (seq <= c.summary.me.read_seq) {
      if (c.summary.unread_count || c.summary.mention_count) {
        c.summary = { ...c.summary, unread_count: 0, mention_count: 0 };
        this.emit();
      }
      return;
    }
    clearTimeout(this.readTimers.get(id));
    this.readTimers.set(
      id,
      setTimeout(() => {
        this.session
          ?.request({ type: 'read', conversation_id: id, seq })
          .then((ack) => this.setMe(ack.member))
          .catch(() => {});
      }, 150),
    );
    c.summary = { ...c.summary, unread_count: 0, mention_count: 0 };
    this.emit();
  }

  private setMe(member: MemberView): void {
    const c = this.convs.get(member.conversation_id);
    if (!c) return;
    const me = { ...c.summary.me, ...member, read_seq: Math.max(member.read_seq, c.summary.me.read_seq) };
    const unread = me.read_seq >= c.summary.conversation.last_seq ? 0 : c.summary.unread_count;
    c.summary = { ...c.summary, me, unread_count: unread, mention_count: unread ? c.summary.mention_count : 0 };
    this.updateMember(member);
  }

  private updateMember(member: MemberView): void {
    const c = this.convs.get(member.conversation_id);
    if (!c?.members) return;
    const i = c.members.findIndex((m) => m.user_id === member.user_id);
    if (i >= 0) c.members[i] = { ...c.members[i], ...member };
    else c.members.push(member);
    c.members = [...c.members];
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

  mentionsIn(c: ConvState, text: string): Uuid[] {
    const names = new Set([...text.matchAll(/@([A-Za-z0-9_.-]+)/g)].map((m) => m[1].toLowerCase()));
    if (!names.size || !c.members) return [];
    return c.members.map((m) => this.users.get(m.user_id)).filter((u): u is UserView => !!u && names.has(u.username.toLowerCase())).map((u) => u.id);
  }

  /** Edit, delete, react or unreact: the ack carries the message's new state. */
  async command(cmd: Extract<Command, { type: 'edit' | 'delete' | 'react' | 'unreact' }>): Promise<void> {
    const ack = await this.session?.request(cmd);
    if (ack) this.upsertMessage(ack.message, false);
  }

  typing(id: Uuid): void {
    this.session?.request({ type: 'typing', conversation_id: id }).catch(() => {});
  }

  // --- events ---
  /** Upserts a message by seq; `fresh` when it arrived as a new-message event. */
  upsertMessage(m: MessageView, fresh: boolean): void {
    const c = this.convs.get(m.conversation_id);
    if (!c) return;
    const have = c.messages.get(m.seq);
    if (have && have.mod_seq >= m.mod_seq) return;
    if (c.loaded && (have || m.seq > c.newest)) {
      c.messages.set(m.seq, m);
      c.newest = Math.max(c.newest, m.seq);
    }
    const conv = c.summary.conversation;
    const isNew = m.seq > conv.last_seq;
    const last = c.summary.last_message;
    c.summary = {
      ...c.summary,
      conversation: {
        ...conv,
        last_seq: Math.max(conv.last_seq, m.seq),
        last_mod: Math.max(conv.last_mod, m.mod_seq),
        last_activity_ms: isNew ? Math.max(conv.last_activity_ms, m.created_at_ms) : conv.last_activity_ms,
      },
      last_message: !last || m.seq >= last.seq ? m : last,
    };
    if (fresh && isNew && m.sender_id !== this.me?.id) {
      c.typing.delete(m.sender_id);
      const mentioned = !!this.me && !!m.mentions?.includes(this.me.id);
      c.summary.unread_count += 1;
      if (mentioned) c.summary.mention_count += 1;
      this.notify(c, m);
      if (this.activeId === c.summary.conversation.id) this.markRead(c.summary.conversation.id);
    }
    this.emit();
  }

  private notify(c: ConvState, m: MessageView): void {
    if (document.visibilityState === 'visible' || c.summary.me.muted) return;
    if (typeof Notification === 'undefined' || Notification.permission !== 'granted') return;
    try {
      const n = new Notification(this.title(c), { body: `${this.displayName(m.sender_id)}: ${previewText(m)}`.slice(0, 200), tag: c.summary.conversation.id });
      n.onclick = () => {
        window.focus();
        void this.open(c.summary.conversation.id);
      };
    } catch {
      /* some platforms only allow notifications from a service worker */
    }
  }

  onEvent(e: EventFrame): void {
    switch (e.type) {
      case 'message.new':
        this.upsertMessage(e.message, true);
        break;
      case 'message.updated':
        this.upsertMessage(e.message, false);
        break;
      case 'conversation':
        this.upsertSummary(e.summary);
        break;
      case 'conversation.updated': {
        const c = this.convs.get(e.conversation.id);
        if (c) c.summary = { ...c.summary, conversation: { ...c.summary.conversation, ...e.conversation } };
        break;
      }
      case 'conversation.removed':
        this.drop(e.conversation_id);
        break;
      case 'member.added': {
        const c = this.convs.get(e.conversation.id);
        if (e.member.user_id === this.me?.id && !c) {
          this.upsertSummary({ conversation: e.conversation, me: e.member, unread_count: 0, mention_count: 0 });
          // A direct conversation's peer comes with the summary.
          if (e.conversation.kind === 'direct') this.api.conversation(e.conversation.id).then((s) => this.upsertSummary(s)).catch(() => {});
        } else if (c) {
          c.summary = { ...c.summary, conversation: { ...c.summary.conversation, ...e.conversation } };
          this.updateMember(e.member);
          this.user(e.member.user_id);
        }
        break;
      }
      case 'member.removed': {
        if (e.user_id === this.me?.id) this.drop(e.conversation_id);
        const c = this.convs.get(e.conversation_id);
        if (c?.members) c.members = c.members.filter((m) => m.user_id !== e.user_id);
        if (c) c.summary = { ...c.summary, conversation: { ...c.summary.conversation, member_count: c.summary.conversation.member_count - 1 } };
        break;
      }
      case 'member.updated':
        if (e.member.user_id === this.me?.id) this.setMe(e.member);
        else this.updateMember(e.member);
        break;
      case 'receipt': {
        const c = this.convs.get(e.conversation_id);
        if (!c) break;
        if (e.user_id === this.me?.id) this.setMe({ ...c.summary.me, read_seq: e.read_seq, delivered_seq: e.delivered_seq });
        else if (c.members) {
          const m = c.members.find((x) => x.user_id === e.user_id);
          if (m) this.updateMember({ ...m, read_seq: Math.max(m.read_seq, e.read_seq), delivered_seq: Math.max(m.delivered_seq, e.delivered_seq) });
        }
        break;
      }
      case 'typing': {
        const c = this.convs.get(e.conversation_id);
        if (!c || e.user_id === this.me?.id) break;
        c.typing.set(e.user_id, Date.now() + e.expires_in_ms);
        setTimeout(() => this.emit(), e.expires_in_ms + 50);
        break;
      }
      case 'presence': {
        const u = this.users.get(e.user_id);
        if (u) this.users.set(e.user_id, { ...u, online: e.online, last_seen_ms: e.last_seen_ms ?? u.last_seen_ms });
        else this.user(e.user_id);
        break;
      }
      case 'user.updated':
        this.users.set(e.user.id, { ...this.users.get(e.user.id), ...e.user });
        break;
    }
    this.emit();
  }

  private drop(id: Uuid): void {
    this.convs.delete(id);
    if (this.activeId === id) this.activeId = null;
  }
}

function pick(u: UserView | undefined): Partial<UserView> {
  if (!u || u.online === undefined) return {};
  return { online: u.online, last_seen_ms: u.last_seen_ms };
}

export const store = new Store();

/** Re-renders the component whenever the store changes. */
export function useStore(): Store {
  const [, force] = useReducer((n: number, _a: number) => n + 1, 0);
  useEffect(() => store.subscribe(() => force(0)), []);
  return store;
}

/** A message in one line: its text, or its files' names when it has no caption. */
export function previewText(m: MessageView): string {
  if (m.text || !m.attachments?.length) return m.text;
  return '📎 ' + m.attachments.map((a) => a.name).join(', ');
}
