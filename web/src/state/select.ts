// Derived views of the state: pure, and memoised on the slices they read, so a component that
// selects them gets the same object back until what it shows changed.
import type { MessageView, UserView, Uuid } from '../natter/types.ts';
import { plainText } from '../ui/markdown.ts';
import type { Conv, State } from './model.ts';

let sortedFor: State['convs'] | null = null;
let sorted: Conv[] = [];

/** Conversations, most recently active first. */
export function sortedConversations(state: State): Conv[] {
  if (state.convs !== sortedFor) {
    sortedFor = state.convs;
    sorted = [...state.convs.values()].sort((a, b) => b.summary.conversation.last_activity_ms - a.summary.conversation.last_activity_ms);
  }
  return sorted;
}

export function userName(user: UserView | undefined): string {
  return user?.display_name || user?.username || '…';
}

export function convTitle(state: State, c: Conv): string {
  const conv = c.summary.conversation;
  if (conv.kind === 'group') return conv.name || 'Group';
  return c.summary.peer ? userName(state.users.get(c.summary.peer)) : 'Direct message';
}

/** Unread messages over every conversation that is not muted (the tab title and favicon). */
export function unreadTotal(state: State): number {
  let total = 0;
  for (const c of state.convs.values()) if (!c.summary.me.muted) total += c.summary.unread_count;
  return total;
}

/** Who is typing in `conv` now. */
export function typers(state: State, conv: Uuid, now: number): Uuid[] {
  const map = state.typing.get(conv);
  if (!map) return [];
  return [...map].filter(([, until]) => until > now).map(([user]) => user);
}

/** The first message after my read mark that someone else sent: where "new messages" starts
 *  (undefined while the messages right after the mark are not loaded). */
export function firstUnread(c: Conv, me: Uuid | undefined): MessageView | undefined {
  if (c.oldest === null || c.oldest > c.readMark + 1) return undefined;
  for (let seq = c.readMark + 1; seq <= c.newest; seq++) {
    const m = c.messages.get(seq);
    if (m && m.sender_id !== me) return m;
  }
  return undefined;
}

/** A message in one line: its text as it reads (no Markdown markers), or its files' names when
 *  it has no caption. */
export function previewText(m: MessageView): string {
  if (m.text || !m.attachments?.length) return plainText(m.text).replace(/\s+/g, ' ').trim();
  return '📎 ' + m.attachments.map((a) => a.name).join(', ');
}
