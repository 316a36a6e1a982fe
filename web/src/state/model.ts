// The app's state as plain immutable data. Every change makes new objects along the path it
// touches and keeps the rest, so a component that selects a slice (one conversation's messages,
// the typing map) re-renders only when that slice is a new object. reducer.ts is the only code
// that makes new states; store.ts holds the current one and runs the side effects.
import type { ConnectionState } from '../natter/session.ts';
import type { ConversationSummaryView, MemberView, MessageView, UserView, Uuid } from '../natter/types.ts';

export interface Conv {
  summary: ConversationSummaryView;
  /** Loaded messages by seq; seqs are gap-free so [oldest..newest] is contiguous. */
  messages: ReadonlyMap<number, MessageView>;
  /** The oldest loaded seq (1 once the beginning is loaded); null before the first page. */
  oldest: number | null;
  newest: number;
  loaded: boolean;
  loadingOlder: boolean;
  members: readonly MemberView[] | null;
  /** The summary is the copy saved on this device (state/cache.ts): the server's list has not
   *  confirmed it yet, and drops it if the conversation is gone. */
  savedSummary: boolean;
  /** The messages are the copy saved on this device: the server's newest page replaces them,
   *  and until it does a live message is kept only if it follows on without a gap. */
  savedMessages: boolean;
  /** My read position when the conversation was last opened: the "new messages" divider goes
   *  after it, and stays there while the conversation is open even as it is marked read. */
  readMark: number;
  /** The span is a window back in the past (a search result, a quote): it ends before the
   *  newest message, so live messages are not put after it; newer pages follow as it is scrolled. */
  window: boolean;
}

export interface State {
  me: UserView | null;
  convs: ReadonlyMap<Uuid, Conv>;
  users: ReadonlyMap<Uuid, UserView>;
  /** Who is typing where, until when (ms): apart from `convs` so typing re-renders no list. */
  typing: ReadonlyMap<Uuid, ReadonlyMap<Uuid, number>>;
  activeId: Uuid | null;
  /** The conversation list has been loaded once (from the server). */
  listReady: boolean;
  /** What the list shows is the copy saved on this device: the server's list has not come yet. */
  fromCache: boolean;
  connection: ConnectionState | 'offline';
  /** Until when (ms) the "Back online" banner shows. */
  backOnlineUntil: number;
  /** The browser says it has no network (navigator.onLine false). */
  browserOffline: boolean;
  /** A conversation link (/c/<id>) that does not exist or is not mine. */
  notFound: Uuid | null;
  /** The message a search result or a quote opened: the list scrolls to it and marks it, once. */
  focus: { conv: Uuid; seq: number } | null;
  /** Bumped when the outbox (unsent messages) changes. */
  outboxVersion: number;
}

export function initialState(me: UserView | null): State {
  return {
    me,
    convs: new Map(),
    users: me ? new Map([[me.id, me]]) : new Map(),
    typing: new Map(),
    activeId: null,
    listReady: false,
    fromCache: false,
    connection: 'connecting',
    backOnlineUntil: 0,
    browserOffline: false,
    notFound: null,
    focus: null,
    outboxVersion: 0,
  };
}

export function newConv(summary: ConversationSummaryView): Conv {
  return {
    summary,
    messages: new Map(),
    oldest: null,
    newest: 0,
    loaded: false,
    loadingOlder: false,
    members: null,
    savedSummary: false,
    savedMessages: false,
    readMark: summary.me.read_seq,
    window: false,
  };
}
