// What of the state is saved on this device for a reload while offline (state/cache.ts writes it
// to IndexedDB): pure, so what is kept is unit-tested (tests/unit/cache.test.mjs).
//
// Kept: the most recent conversations' summaries; for the most recent of those that were loaded,
// their newest messages as one gap-free run ending at the newest loaded seq (the message list's
// invariant holds for what is restored); the users all that mentions. Bounded, whatever the
// state holds. Records are memoised on the state's immutable objects, so an unchanged
// conversation gives the same record and a save writes only what changed (`changes`).
import type { ConversationSummaryView, MessageView, UserView, Uuid } from '../natter/types.ts';
import type { Conv, State } from './model.ts';

/** Conversations kept (the server's list gives as many). */
export const KEEP_CONVERSATIONS = 100;
/** Conversations whose messages are kept. */
export const KEEP_PAGES = 30;
/** Messages kept per conversation (a history page). */
export const KEEP_MESSAGES = 100;
/** Users kept. */
export const KEEP_USERS = 2000;

/** One conversation as saved: its summary and its newest messages, ascending, gap-free; null
 *  when none are saved ([] is a conversation loaded and empty). */
export interface SavedConv {
  summary: ConversationSummaryView;
  messages: MessageView[] | null;
}

export interface Snapshot {
  convs: Map<Uuid, SavedConv>;
  users: Map<Uuid, UserView>;
}

/** The newest loaded messages of `c` as one gap-free run ending at the newest loaded seq, at
 *  most `max` of them; none when no page is loaded. */
export function keptMessages(c: Conv, max = KEEP_MESSAGES): MessageView[] {
  if (c.oldest === null || !c.loaded) return [];
  const kept: MessageView[] = [];
  for (let seq = c.newest; seq >= c.oldest && kept.length < max; seq--) {
    const m = c.messages.get(seq);
    if (!m) break;
    kept.push(m);
  }
  return kept.reverse();
}

const withMessages = new WeakMap<Conv, SavedConv>();
const summaryOnly = new WeakMap<ConversationSummaryView, SavedConv>();

/** What to save of `state`. The open conversation's messages are kept first. */
export function takeSnapshot(state: State): Snapshot {
  const recent = [...state.convs.values()]
    .sort((a, b) => b.summary.conversation.last_activity_ms - a.summary.conversation.last_activity_ms)
    .slice(0, KEEP_CONVERSATIONS);
  const pages = new Set<Conv>();
  const active = state.activeId ? state.convs.get(state.activeId) : undefined;
  for (const c of active && recent.includes(active) ? [active, ...recent] : recent) {
    if (pages.size >= KEEP_PAGES) break;
    if (c.oldest !== null && c.loaded && (c.messages.size > 0 || c.oldest === 1)) pages.add(c);
  }
  const convs = new Map<Uuid, SavedConv>();
  const userIds = new Set<Uuid>();
  const mention = (id: Uuid | null | undefined) => id && userIds.size < KEEP_USERS && userIds.add(id);
  if (state.me) mention(state.me.id);
  for (const c of recent) {
    let saved: SavedConv | undefined;
    if (pages.has(c)) {
      saved = withMessages.get(c);
      if (!saved) {
        const messages = keptMessages(c);
        // Nothing kept of messages that are there would say "empty": keep none instead.
        withMessages.set(c, (saved = { summary: c.summary, messages: messages.length || !c.messages.size ? messages : null }));
      }
    } else {
      saved = summaryOnly.get(c.summary);
      if (!saved) summaryOnly.set(c.summary, (saved = { summary: c.summary, messages: null }));
    }
    convs.set(c.summary.conversation.id, saved);
    mention(c.summary.peer);
    mention(c.summary.last_message?.sender_id);
  }
  for (const c of pages) {
    for (const m of convs.get(c.summary.conversation.id)!.messages ?? []) {
      mention(m.sender_id);
      for (const id of m.mentions ?? []) mention(id);
    }
  }
  const users = new Map<Uuid, UserView>();
  for (const id of userIds) {
    const u = state.users.get(id);
    if (u) users.set(id, u);
  }
  return { convs, users };
}

/** What a save writes, given what the last one wrote: records that are new or changed (by
 *  identity: the snapshot's records are memoised) and the keys of records gone. */
export function changes<V>(written: ReadonlyMap<string, V> | null, next: ReadonlyMap<string, V>): { put: [string, V][]; remove: string[] } {
  const put: [string, V][] = [];
  for (const [key, value] of next) if (written?.get(key) !== value) put.push([key, value]);
  const remove = written ? [...written.keys()].filter((key) => !next.has(key)) : [];
  return { put, remove };
}
