// The one place state changes: `reduce(state, action)` and `applyEvent(state, event)` are pure
// (no timers, no fetching, no DOM), so every rule is unit-tested in tests/unit/reducer.test.mjs
// with plain objects. A change returns a new State sharing every untouched part; no change
// returns the same State, which the store takes as "nothing to render".
//
// The rules that keep the list honest whatever order frames come in:
// - a message is kept by seq and replaced only by a higher mod_seq, so a resumed replay, an
//   event after its own ack or an ack after its event changes nothing the second time;
// - a message counts as unread once: only when its seq is past the conversation's last_seq;
// - what was restored from the copy saved on this device (state/cache.ts) fills in only what the
//   server has not given yet, and the server's data replaces it: its list drops the saved
//   conversations it does not have, and a conversation's newest page replaces saved messages.
import type { ConnectionState } from '../natter/session.ts';
import type { ConversationSummaryView, EventFrame, MemberView, MessageView, UserView, Uuid } from '../natter/types.ts';
import { initialState, newConv, type Conv, type State } from './model.ts';
import type { SavedConv } from './snapshot.ts';

/** Which page of history: the newest (the first one loaded, or back to the present), the one
 *  before the loaded span, the one after it, or a window around a message to show (search,
 *  quotes, the first unread), which replaces what was loaded. The loaded span stays one gap-free
 *  run: a newest page that does not meet it replaces it too. */
export type PageMode = 'newest' | 'older' | 'newer' | 'around';

export type Action =
  | { type: 'signed-in'; me: UserView }
  | { type: 'signed-out' }
  | { type: 'connection'; state: ConnectionState; everConnected: boolean; now: number }
  | { type: 'browser-online'; online: boolean }
  /** The server's conversation list: it replaces the saved copy's. */
  | { type: 'summaries'; list: ConversationSummaryView[] }
  /** The copy saved on this device, restored at start (users come without presence). */
  | { type: 'cached'; convs: SavedConv[]; users: UserView[] }
  | { type: 'summary'; summary: ConversationSummaryView }
  | { type: 'open'; id: Uuid | null }
  | { type: 'not-found'; id: Uuid }
  | { type: 'loading'; id: Uuid; loaded: boolean }
  | { type: 'loading-older'; id: Uuid; loading: boolean }
  /** A history page (see `PageMode`). */
  | { type: 'page'; id: Uuid; page: MessageView[]; mode: PageMode }
  | { type: 'members'; id: Uuid; members: MemberView[] }
  /** My member row as a command's ack gave it (a read cursor, mute, role). */
  | { type: 'my-member'; member: MemberView }
  /** Everything up to `seq` was seen as it came (the list was at the bottom): no divider for it. */
  | { type: 'read-mark'; id: Uuid; seq: number }
  /** The active conversation is being read: its counters drop to zero at once. */
  | { type: 'read-locally'; id: Uuid }
  /** A message as an ack (mine) or a command's answer gave it: never counted as unread. */
  | { type: 'message'; message: MessageView }
  | { type: 'event'; event: EventFrame; now: number }
  | { type: 'typing-expired'; conv: Uuid; user: Uuid; until: number }
  /** Users found by a search or fetched by id: known presence is kept. */
  | { type: 'users'; users: UserView[] }
  /** My own profile as the server now has it (renamed in the settings, or on another device). */
  | { type: 'me'; me: UserView }
  | { type: 'focus'; focus: State['focus'] }
  | { type: 'outbox-changed' };

export function reduce(state: State, action: Action): State {
  switch (action.type) {
    case 'signed-in':
      return initialState(action.me);
    case 'signed-out':
      return initialState(null);
    case 'connection': {
      const { state: conn, everConnected, now } = action;
      const connection = conn === 'connecting' && everConnected ? 'offline' : conn;
      const wasDown = state.connection === 'offline';
      // "Back online" shows for 3 s after a reconnect; a later dispatch (the store's timer) clears it.
      const backOnlineUntil = conn !== 'connected' ? 0 : wasDown ? now + 3000 : state.backOnlineUntil > now ? state.backOnlineUntil : 0;
      if (connection === state.connection && backOnlineUntil === state.backOnlineUntil) return state;
      return { ...state, connection, backOnlineUntil };
    }
    case 'browser-online':
      return state.browserOffline === !action.online ? state : { ...state, browserOffline: !action.online };
    case 'summaries': {
      // A conversation shown from the saved copy that the server no longer lists is gone (removed,
      // or I left it, while this device was away); one an event brought meanwhile stays.
      const live = new Set(action.list.map((s) => s.conversation.id));
      let next = state;
      for (const [id, c] of state.convs) if (c.savedSummary && !live.has(id)) next = drop(next, id);
      // Peers are kept even without presence (no flash of "…"): the store fetches them again.
      for (const summary of action.list) next = upsertSummary(next, summary, false);
      return { ...next, listReady: true, fromCache: false };
    }
    case 'cached':
      return restore(state, action.convs, action.users);
    case 'summary':
      return upsertSummary(state, action.summary);
    case 'open': {
      if (action.id === state.activeId && state.notFound === null) return state;
      let next: State = { ...state, activeId: action.id, notFound: null };
      const c = action.id ? state.convs.get(action.id) : undefined;
      // Opening sets where the "new messages" divider goes: after what I had read.
      if (c && action.id !== state.activeId) next = withConv(next, { ...c, readMark: c.summary.me.read_seq });
      return next;
    }
    case 'not-found':
      return { ...state, activeId: state.activeId === action.id ? null : state.activeId, notFound: action.id };
    case 'loading':
      return updateConv(state, action.id, (c) => (c.loaded === action.loaded ? c : { ...c, loaded: action.loaded }));
    case 'loading-older':
      return updateConv(state, action.id, (c) => (c.loadingOlder === action.loading ? c : { ...c, loadingOlder: action.loading }));
    case 'page':
      return updateConv(state, action.id, (c) => (c.savedMessages && action.mode !== 'older' ? replaceSaved(c, action.page) : addPage(c, action.page, action.mode)));
    case 'members':
      return updateConv(state, action.id, (c) => ({ ...c, members: action.members }));
    case 'my-member':
      return setMyMember(state, action.member);
    case 'read-mark':
      return updateConv(state, action.id, (c) => (action.seq > c.readMark ? { ...c, readMark: action.seq } : c));
    case 'read-locally':
      return updateConv(state, action.id, (c) =>
        c.summary.unread_count || c.summary.mention_count ? { ...c, summary: { ...c.summary, unread_count: 0, mention_count: 0 } } : c,
      );
    case 'message':
      return upsertMessage(state, action.message, false);
    case 'event':
      return applyEvent(state, action.event, action.now);
    case 'typing-expired': {
      const typers = state.typing.get(action.conv);
      if (typers?.get(action.user) !== action.until) return state;
      return { ...state, typing: withEntry(state.typing, action.conv, without(typers, action.user)) };
    }
    case 'users': {
      let users: Map<Uuid, UserView> | null = null;
      for (const u of action.users) {
        const have = (users ?? state.users).get(u.id);
        const merged = have && have.online !== undefined && u.online === undefined ? { ...u, online: have.online, last_seen_ms: have.last_seen_ms } : u;
        if (have && sameUser(have, merged)) continue;
        users ??= new Map(state.users);
        users.set(u.id, merged);
      }
      return users ? { ...state, users } : state;
    }
    case 'me': {
      if (!state.me || state.me.id !== action.me.id) return state;
      const me = withAvatar({ ...state.me, username: action.me.username, display_name: action.me.display_name }, action.me.avatar);
      return sameUser(state.me, me) ? state : { ...state, me };
    }
    case 'focus':
      return { ...state, focus: action.focus };
    case 'outbox-changed':
      return { ...state, outboxVersion: state.outboxVersion + 1 };
  }
}

/** One server event. */
export function applyEvent(state: State, e: EventFrame, now: number): State {
  switch (e.type) {
    case 'message.new':
      return upsertMessage(state, e.message, true);
    case 'message.updated':
      return upsertMessage(state, e.message, false);
    case 'conversation':
      return upsertSummary(state, e.summary);
    case 'conversation.updated':
      return updateConv(state, e.conversation.id, (c) => withConversation(c, e.conversation));
    case 'conversation.removed':
      return drop(state, e.conversation_id);
    case 'member.added': {
      const c = state.convs.get(e.conversation.id);
      if (!c) {
        if (e.member.user_id !== state.me?.id) return state;
        return upsertSummary(state, { conversation: e.conversation, me: e.member, unread_count: 0, mention_count: 0 });
      }
      return updateConv(state, c.summary.conversation.id, (c) => withMember(withConversation(c, e.conversation), e.member));
    }
    case 'member.removed': {
      if (e.user_id === state.me?.id) return drop(state, e.conversation_id);
      return updateConv(state, e.conversation_id, (c) => {
        if (c.members && !c.members.some((m) => m.user_id === e.user_id)) return c;
        const conversation = { ...c.summary.conversation, member_count: Math.max(0, c.summary.conversation.member_count - 1) };
        return { ...c, summary: { ...c.summary, conversation }, members: c.members && c.members.filter((m) => m.user_id !== e.user_id) };
      });
    }
    case 'member.updated':
      return e.member.user_id === state.me?.id ? setMyMember(state, e.member) : updateConv(state, e.member.conversation_id, (c) => withMember(c, e.member));
    case 'receipt': {
      const c = state.convs.get(e.conversation_id);
      if (!c) return state;
      if (e.user_id === state.me?.id) return setMyMember(state, { ...c.summary.me, read_seq: e.read_seq, delivered_seq: e.delivered_seq });
      const m = c.members?.find((x) => x.user_id === e.user_id);
      if (!m || (m.read_seq >= e.read_seq && m.delivered_seq >= e.delivered_seq)) return state;
      return withConv(state, withMember(c, { ...m, read_seq: Math.max(m.read_seq, e.read_seq), delivered_seq: Math.max(m.delivered_seq, e.delivered_seq) }));
    }
    case 'typing': {
      if (e.user_id === state.me?.id || !state.convs.has(e.conversation_id)) return state;
      const typers = new Map(state.typing.get(e.conversation_id));
      typers.set(e.user_id, now + e.expires_in_ms);
      return { ...state, typing: withEntry(state.typing, e.conversation_id, typers) };
    }
    case 'presence': {
      const u = state.users.get(e.user_id);
      if (!u || (u.online === e.online && (e.last_seen_ms ?? u.last_seen_ms) === u.last_seen_ms)) return state;
      return { ...state, users: withEntry(state.users, e.user_id, { ...u, online: e.online, last_seen_ms: e.last_seen_ms ?? u.last_seen_ms }) };
    }
    case 'user.updated': {
      // Presence is not in the event (kept from what is known); a picture left out was removed.
      const have = state.users.get(e.user.id);
      const user = withAvatar({ ...have, ...e.user }, e.user.avatar);
      const me = state.me?.id === e.user.id ? withAvatar({ ...state.me, ...e.user }, e.user.avatar) : state.me;
      return { ...state, me, users: withEntry(state.users, e.user.id, user) };
    }
    case 'error':
      return state;
  }
}

// --- conversations ---

function upsertSummary(state: State, summary: ConversationSummaryView, forgetPeer = true): State {
  const id = summary.conversation.id;
  const c = state.convs.get(id);
  let next = withConv(state, c ? { ...c, summary, savedSummary: false } : newConv(summary));
  // A user cached from a search carries no presence; a shared conversation brings it: forget
  // the cached copy so the store fetches the user with presence.
  const peer = forgetPeer && summary.peer ? next.users.get(summary.peer) : undefined;
  if (peer && peer.online === undefined) next = { ...next, users: without(next.users, peer.id) };
  return next;
}

/** The saved copy, under whatever the server already gave: a conversation the server's list
 *  (come first) does not have stays gone, and saved messages go only where none are loaded. */
function restore(state: State, saved: readonly SavedConv[], users: readonly UserView[]): State {
  let convs: Map<Uuid, Conv> | null = null;
  let added = false;
  for (const { summary, messages } of saved) {
    const id = summary.conversation.id;
    const have = (convs ?? state.convs).get(id);
    if (!have && state.listReady) continue;
    let c = have ?? { ...newConv(summary), savedSummary: true };
    added ||= !have;
    if (messages && c.oldest === null && c.messages.size === 0 && contiguous(messages)) {
      // None: the conversation was loaded and empty.
      const oldest = messages.length ? messages[0].seq : 1;
      const newest = messages.length ? messages[messages.length - 1].seq : 0;
      c = { ...c, messages: new Map(messages.map((m) => [m.seq, m])), oldest, newest, loaded: true, savedMessages: true };
    }
    if (c === have) continue;
    convs ??= new Map(state.convs);
    convs.set(id, c);
  }
  let known: Map<Uuid, UserView> | null = null;
  for (const u of users) {
    if ((known ?? state.users).has(u.id)) continue;
    known ??= new Map(state.users);
    // Presence is not saved news: unknown until the server says.
    const { online: _online, last_seen_ms: _seen, ...rest } = u;
    known.set(u.id, rest);
  }
  if (!convs && !known) return state;
  return { ...state, convs: convs ?? state.convs, users: known ?? state.users, fromCache: state.fromCache || added };
}

function contiguous(messages: readonly MessageView[]): boolean {
  return messages.every((m, i) => m.seq === messages[0].seq + i);
}

function drop(state: State, id: Uuid): State {
  if (!state.convs.has(id)) return state;
  return { ...state, convs: without(state.convs, id), typing: without(state.typing, id), activeId: state.activeId === id ? null : state.activeId };
}

function addPage(c: Conv, page: MessageView[], mode: PageMode): Conv {
  const first = page.length ? page[0].seq : undefined;
  const last = page.length ? page[page.length - 1].seq : undefined;
  // Before the first page, live messages may already be there (events that overtook it): merged.
  const detached = c.oldest !== null && first !== undefined && last !== undefined && (first > c.newest + 1 || last + 1 < c.oldest);
  if (mode === 'around' || (mode === 'newest' && detached)) {
    // A span of its own: what was loaded goes, so no gap is ever shown.
    if (first === undefined || last === undefined) return c;
    const window = mode === 'around' && last < c.summary.conversation.last_seq;
    return { ...c, messages: new Map(page.map((m) => [m.seq, m])), oldest: first, newest: last, window };
  }
  const messages = new Map(c.messages);
  let newest = c.newest;
  for (const m of page) {
    const have = messages.get(m.seq);
    if (!have || have.mod_seq < m.mod_seq) messages.set(m.seq, m);
    newest = Math.max(newest, m.seq);
  }
  let oldest = c.oldest;
  // An empty page before the span, or as the first: the conversation begins there.
  if (mode === 'older' || oldest === null) oldest = Math.min(first ?? 1, oldest ?? first ?? 1);
  // A newer page that reaches the newest message (or finds none after the span) ends the window.
  const window = mode === 'newest' ? false : mode === 'newer' ? c.window && last !== undefined && last < c.summary.conversation.last_seq : c.window;
  return { ...c, messages, newest, oldest, window };
}

/** The server's newest page in place of saved messages, which may be stale (edited or deleted
 *  since) and end before a gap. A copy of a seq with a higher mod_seq (an event that overtook
 *  the page) wins, and live messages that follow the page without a gap stay. */
function replaceSaved(c: Conv, page: MessageView[]): Conv {
  const messages = new Map<number, MessageView>();
  for (const m of page) {
    const have = c.messages.get(m.seq);
    messages.set(m.seq, have && have.mod_seq > m.mod_seq ? have : m);
  }
  let newest = page.length ? page[page.length - 1].seq : 0;
  if (page.length) for (let m = c.messages.get(newest + 1); m; m = c.messages.get(newest + 1)) messages.set(++newest, m);
  return { ...c, messages, newest, oldest: page.length ? page[0].seq : 1, savedMessages: false };
}

function withConversation(c: Conv, conversation: ConversationSummaryView['conversation']): Conv {
  // A name or topic the view leaves out is none (the server omits them when cleared).
  const { name, topic } = conversation;
  return { ...c, summary: { ...c.summary, conversation: { ...c.summary.conversation, ...conversation, name, topic } } };
}

function withMember(c: Conv, member: MemberView): Conv {
  if (!c.members) return c;
  const i = c.members.findIndex((m) => m.user_id === member.user_id);
  const members = [...c.members];
  if (i >= 0) members[i] = { ...members[i], ...member };
  else members.push(member);
  return { ...c, members };
}

/** My own member row: the read cursor only moves forward, and reading clears the counters. */
function setMyMember(state: State, member: MemberView): State {
  return updateConv(state, member.conversation_id, (c) => {
    const me = { ...c.summary.me, ...member, read_seq: Math.max(member.read_seq, c.summary.me.read_seq) };
    const read = me.read_seq >= c.summary.conversation.last_seq;
    const summary = { ...c.summary, me, unread_count: read ? 0 : c.summary.unread_count, mention_count: read ? 0 : c.summary.mention_count };
    return withMember({ ...c, summary }, member);
  });
}

// --- messages ---

/** Upserts a message by seq; `fresh` when it arrived as a new-message event (it may be unread). */
function upsertMessage(state: State, m: MessageView, fresh: boolean): State {
  const c = state.convs.get(m.conversation_id);
  if (!c) return state;
  const have = c.messages.get(m.seq);
  if (have && have.mod_seq >= m.mod_seq) return state;
  const conv = c.summary.conversation;
  const last = c.summary.last_message;
  const isNew = m.seq > conv.last_seq;
  const newerLast = !last || m.seq > last.seq || (m.seq === last.seq && m.mod_seq > last.mod_seq);
  // Past saved messages only what follows on without a gap: the newest page fills the rest.
  // Kept when inside the loaded span, or after it unless the span is a window back in the past
  // (which loads what follows it page by page instead). Saved messages take only what follows
  // them without a gap.
  const inSpan = c.oldest !== null && m.seq >= c.oldest && m.seq <= c.newest;
  const firstPagePending = c.oldest === null;
  const keep = c.loaded && (have !== undefined || inSpan || firstPagePending || (c.savedMessages ? m.seq === c.newest + 1 : !c.window && m.seq > c.newest));
  if (!keep && !isNew && !newerLast && m.mod_seq <= conv.last_mod) return state;

  let messages = c.messages;
  let newest = c.newest;
  if (keep) {
    messages = withEntry(c.messages, m.seq, m);
    newest = Math.max(newest, m.seq);
  }
  let { unread_count, mention_count } = c.summary;
  const counted = fresh && isNew && m.sender_id !== state.me?.id;
  if (counted) {
    unread_count += 1;
    if (state.me && m.mentions?.includes(state.me.id)) mention_count += 1;
  }
  const summary = {
    ...c.summary,
    conversation: {
      ...conv,
      last_seq: Math.max(conv.last_seq, m.seq),
      last_mod: Math.max(conv.last_mod, m.mod_seq),
      last_activity_ms: isNew ? Math.max(conv.last_activity_ms, m.created_at_ms) : conv.last_activity_ms,
    },
    last_message: newerLast ? m : last,
    unread_count,
    mention_count,
  };
  let next = withConv(state, { ...c, messages, newest, summary });
  // A message from someone ends their typing.
  if (counted && state.typing.get(m.conversation_id)?.has(m.sender_id)) {
    next = { ...next, typing: withEntry(next.typing, m.conversation_id, without(next.typing.get(m.conversation_id)!, m.sender_id)) };
  }
  return next;
}

// --- immutable helpers ---

function updateConv(state: State, id: Uuid, change: (c: Conv) => Conv): State {
  const c = state.convs.get(id);
  if (!c) return state;
  const next = change(c);
  return next === c ? state : withConv(state, next);
}

function withConv(state: State, c: Conv): State {
  return { ...state, convs: withEntry(state.convs, c.summary.conversation.id, c) };
}

function withEntry<K, V>(map: ReadonlyMap<K, V>, key: K, value: V): Map<K, V> {
  const next = new Map(map);
  next.set(key, value);
  return next;
}

function without<K, V>(map: ReadonlyMap<K, V>, key: K): Map<K, V> {
  const next = new Map(map);
  next.delete(key);
  return next;
}

function sameUser(a: UserView, b: UserView): boolean {
  return (
    a.username === b.username &&
    a.display_name === b.display_name &&
    a.online === b.online &&
    a.last_seen_ms === b.last_seen_ms &&
    a.avatar?.url_small === b.avatar?.url_small
  );
}

/** `user` with `avatar` as its picture, or without one (no `avatar` key, as the server sends it). */
function withAvatar(user: UserView, avatar: UserView['avatar']): UserView {
  if (avatar) return { ...user, avatar };
  if (!('avatar' in user)) return user;
  const { avatar: _removed, ...rest } = user;
  return rest;
}
