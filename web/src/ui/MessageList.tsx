// The message list, virtualised: only the rows in (and near) the viewport are in the DOM, so a
// conversation of tens of thousands of messages stays smooth. Rows have measured heights (an
// estimate until measured); the list keeps its anchor row still while heights change or older
// pages are prepended, and sticks to the bottom while the user is there.
//
// What was unread when the conversation opened sits under a "New messages" divider (the list
// opens at it when it is more than a screen up); scrolled up, a button jumps back to the bottom
// and counts what came meanwhile, and another jumps to the first unread, loading back to it.
//
// Keyboard: the list is one tab stop; arrows, Home/End and Page keys move between messages
// (one of them is focusable at a time); on a message, Enter, the context-menu key or Shift+F10
// open its actions menu, R replies, E edits, Delete deletes; Escape goes back to the composer.
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import type { MessageView, OutboxAttachment, OutboxItem, Uuid } from '../natter';
import { firstUnread, previewText } from '../state/select';
import { store, useSelector, type ConvState } from '../store';
import { Attachments } from './Attachments';
import { Avatar, formatBytes } from './common';
import { EmojiPicker } from './EmojiPicker';
import { RichText, dayKey, dayLabel, timeLabel } from './text';

type Row =
  | { key: string; kind: 'day'; label: string }
  | { key: string; kind: 'new' }
  | { key: string; kind: 'msg'; m: MessageView; head: boolean }
  | { key: string; kind: 'pending'; item: OutboxItem };

const ESTIMATE_MSG = 56;
const ESTIMATE_DAY = 40;
const OVERSCAN_PX = 600;
const LOAD_OLDER_PX = 1200;
const REACTIONS = ['👍', '❤️', '😂', '🎉', '😮', '😢'];

function buildRows(c: ConvState, pending: OutboxItem[], dividerSeq: number | undefined): Row[] {
  const rows: Row[] = [];
  let lastDay = '';
  let prev: MessageView | undefined;
  const sent = new Set<string>();
  if (c.oldest !== null) {
    for (let seq = c.oldest; seq <= c.newest; seq++) {
      const m = c.messages.get(seq);
      if (!m) continue;
      const day = dayKey(m.created_at_ms);
      if (day !== lastDay) {
        rows.push({ key: `d${day}`, kind: 'day', label: dayLabel(m.created_at_ms) });
        lastDay = day;
        prev = undefined;
      }
      if (m.seq === dividerSeq) {
        rows.push({ key: 'new', kind: 'new' });
        prev = undefined;
      }
      const head = !prev || prev.sender_id !== m.sender_id || m.created_at_ms - prev.created_at_ms > 5 * 60_000 || !!m.reply_to_seq;
      rows.push({ key: `m${m.seq}`, kind: 'msg', m, head });
      prev = m;
      if (m.sender_id === store.me?.id) sent.add(m.client_msg_id);
    }
  }
  for (const item of pending) {
    // Shown until the server's copy is in the list: never both.
    if (!sent.has(item.client_msg_id)) rows.push({ key: `p${item.client_msg_id}`, kind: 'pending', item });
  }
  return rows;
}

export interface ListActions {
  reply: (m: MessageView) => void;
  edit: (m: MessageView) => void;
  /** Back to the composer (Escape in the list). */
  compose: () => void;
}

/** Unread messages of others after `after` (those not loaded are counted by seq). */
function countAfter(c: ConvState, after: number, me: Uuid | undefined): number {
  let n = c.oldest !== null && c.oldest > after + 1 ? c.oldest - after - 1 : 0;
  for (let seq = Math.max(after + 1, c.oldest ?? after + 1); seq <= c.newest; seq++) {
    const m = c.messages.get(seq);
    if (m && m.sender_id !== me) n++;
  }
  return n;
}

export function MessageList({ c, actions }: { c: ConvState; actions: ListActions }) {
  const id = c.summary.conversation.id;
  // Names, unsent messages and a search result to show: the list's other inputs.
  useSelector((s) => s.users);
  useSelector((s) => s.outboxVersion);
  const focus = useSelector((s) => s.focus);
  const pending = store.outbox?.list(id) ?? [];
  const me = store.me?.id;
  const unreadFrom = firstUnread(c, me);
  const rows = buildRows(c, pending, unreadFrom?.seq);
  const dividerAt = unreadFrom ? rows.findIndex((r) => r.kind === 'new') : -1;
  /** The loaded span ends before the newest message (a window opened in the past): newer pages
   *  load as it is scrolled down, and nothing sticks to the bottom. */
  const behind = c.window;
  /** Whether the first unread is loaded: when not, "jump to first unread" loads back to it. */
  const unreadBeyond = c.readMark + 1 < (c.oldest ?? 0) && countAfter(c, c.readMark, me) > 0;
  const scroller = useRef<HTMLDivElement>(null);
  const heights = useRef(new Map<string, number>());
  const stick = useRef(true);
  const anchor = useRef<{ key: string; delta: number } | null>(null);
  const [view, setView] = useState({ top: 0, height: 800 });
  const [, setMeasured] = useState(0);
  const [atBottom, setAtBottom] = useState(true);
  /** The newest seq seen at the bottom: what came after it is counted on the jump button. */
  const seenSeq = useRef(c.newest);
  /** Opened at its divider already (once per conversation opened). */
  const placed = useRef(false);
  /** The message that takes the list's focus (roving tab stop), by seq. */
  const [current, setCurrent] = useState<number | null>(null);
  const [menuFor, setMenuFor] = useState<number | null>(null);
  // The seq a search result opened, marked for a moment.
  const [flash, setFlash] = useState<number | null>(null);

  // Prefix sums of row heights.
  const offsets = new Float64Array(rows.length + 1);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    offsets[i + 1] = offsets[i] + (heights.current.get(r.key) ?? (r.kind === 'day' ? ESTIMATE_DAY : ESTIMATE_MSG));
  }
  const total = offsets[rows.length];
  const find = (y: number) => {
    let lo = 0;
    let hi = rows.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (offsets[mid + 1] <= y) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const start = Math.max(0, find(view.top - OVERSCAN_PX));
  const end = Math.min(rows.length, find(view.top + view.height + OVERSCAN_PX) + 1);
  const keyIndex = (key: string) => rows.findIndex((r) => r.key === key);

  const readSeqs = (c.members ?? []).filter((m) => m.user_id !== store.me?.id);
  let lastMine = 0;
  for (let i = rows.length - 1; i >= 0; i--) {
    const r = rows[i];
    if (r.kind === 'msg' && r.m.sender_id === store.me?.id && !r.m.deleted) {
      lastMine = r.m.seq;
      break;
    }
  }
  const mentionNames = new Set<string>();
  for (const m of c.members ?? []) {
    const u = store.users.get(m.user_id);
    if (u) mentionNames.add(u.username.toLowerCase());
  }

  function onScroll() {
    const el = scroller.current;
    if (!el) return;
    stick.current = el.scrollTop + el.clientHeight >= el.scrollHeight - 40;
    if (stick.current !== atBottom) setAtBottom(stick.current);
    const i = find(el.scrollTop);
    anchor.current = rows[i] ? { key: rows[i].key, delta: offsets[i] - el.scrollTop } : null;
    setView({ top: el.scrollTop, height: el.clientHeight });
    if (el.scrollTop < LOAD_OLDER_PX) void store.loadOlder(id);
    if (behind && el.scrollHeight - el.scrollTop - el.clientHeight < LOAD_OLDER_PX) void store.loadNewer(id);
  }

  // Measure rendered rows, then restore the scroll position (bottom or anchor) before paint.
  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    let changed = false;
    for (const node of el.querySelectorAll<HTMLElement>('[data-row]')) {
      const key = node.dataset.row ?? '';
      const h = node.offsetHeight;
      if (h && heights.current.get(key) !== h) {
        heights.current.set(key, h);
        changed = true;
      }
    }
    if (changed) {
      setMeasured((n) => n + 1);
      return;
    }
    const at = focus && focus.conv === id ? keyIndex(`m${focus.seq}`) : -1;
    if (focus && at >= 0) {
      // A search result: bring its row to the upper third and keep it there as rows measure.
      store.dispatch({ type: 'focus', focus: null });
      stick.current = false;
      const want = Math.max(0, offsets[at] - el.clientHeight / 3);
      el.scrollTop = want;
      anchor.current = { key: rows[at].key, delta: offsets[at] - el.scrollTop };
      setFlash(focus.seq);
      setView({ top: el.scrollTop, height: el.clientHeight });
      return;
    }
    if (!placed.current) {
      placed.current = true;
      // Opened with more unread than a screen: start at the divider, not the bottom.
      if (dividerAt >= 0 && total - offsets[dividerAt] > el.clientHeight) {
        stick.current = false;
        setAtBottom(false);
        el.scrollTop = Math.max(0, offsets[dividerAt] - 8);
        anchor.current = { key: 'new', delta: offsets[dividerAt] - el.scrollTop };
        setView({ top: el.scrollTop, height: el.clientHeight });
        return;
      }
    }
    if (stick.current && !behind) {
      el.scrollTop = el.scrollHeight;
    } else if (anchor.current) {
      const i = keyIndex(anchor.current.key);
      if (i >= 0) {
        const want = offsets[i] - anchor.current.delta;
        if (Math.abs(el.scrollTop - want) > 1) el.scrollTop = want;
      }
    }
    if (el.scrollTop !== view.top || el.clientHeight !== view.height) setView({ top: el.scrollTop, height: el.clientHeight });
    else if (el.scrollTop < LOAD_OLDER_PX) void store.loadOlder(id);
    else if (behind && el.scrollHeight - el.scrollTop - el.clientHeight < LOAD_OLDER_PX) void store.loadNewer(id);
  });

  useEffect(() => {
    if (flash === null) return;
    const el = scroller.current?.querySelector<HTMLElement>(`.msg[data-seq="${flash}"]`);
    el?.focus({ preventScroll: true });
    const t = setTimeout(() => setFlash(null), 2500);
    return () => clearTimeout(t);
  }, [flash]);

  // New conversation: start at the bottom (or its divider).
  useEffect(() => {
    stick.current = true;
    anchor.current = null;
    placed.current = false;
    seenSeq.current = c.newest;
    setAtBottom(true);
    setCurrent(null);
    setMenuFor(null);
  }, [id]);

  // Seen at the bottom as they come: no divider for them, nothing to count.
  useEffect(() => {
    if (!atBottom || behind || document.visibilityState !== 'visible') return;
    seenSeq.current = c.newest;
    if (!unreadFrom && !unreadBeyond && c.newest > c.readMark) store.dispatch({ type: 'read-mark', id, seq: c.newest });
  }, [atBottom, behind, c.newest, !!unreadFrom, unreadBeyond]);

  async function toBottom() {
    if (behind) await store.toPresent(id);
    const el = scroller.current;
    if (!el) return;
    stick.current = true;
    anchor.current = null;
    setAtBottom(true);
    el.scrollTop = el.scrollHeight;
  }

  function toFirstUnread() {
    const el = scroller.current;
    if (!el) return;
    if (dividerAt >= 0) {
      stick.current = false;
      el.scrollTop = Math.max(0, offsets[dividerAt] - 8);
      anchor.current = { key: 'new', delta: offsets[dividerAt] - el.scrollTop };
      setView({ top: el.scrollTop, height: el.clientHeight });
    } else void store.jumpTo(id, c.readMark + 1);
  }

  /** The message rows in order, for the keyboard. */
  const seqs = rows.flatMap((r) => (r.kind === 'msg' ? [r.m.seq] : []));
  const focusSeq = current !== null && c.messages.has(current) ? current : seqs[seqs.length - 1];

  function focusMessage(seq: number | undefined) {
    if (seq === undefined) return;
    setCurrent(seq);
    const i = keyIndex(`m${seq}`);
    const el = scroller.current;
    if (!el || i < 0) return;
    // Bring it into the rendered window first, then focus it once rendered.
    if (offsets[i] < el.scrollTop || offsets[i + 1] > el.scrollTop + el.clientHeight) {
      stick.current = false;
      el.scrollTop = Math.max(0, offsets[i] - el.clientHeight / 3);
      setView({ top: el.scrollTop, height: el.clientHeight });
    }
    requestAnimationFrame(() => el.querySelector<HTMLElement>(`.msg[data-seq="${seq}"]`)?.focus({ preventScroll: true }));
  }

  function onKeyDown(e: KeyboardEvent) {
    // Only keys on the list itself or on a message: a dialog, menu or control inside a row (the
    // lightbox, the picker) handles its own, Escape included.
    const target = e.target as HTMLElement;
    if (menuFor !== null || e.defaultPrevented || (target !== scroller.current && !target.classList.contains('msg'))) return;
    const onMessage = target.classList.contains('msg');
    const at = seqs.indexOf(onMessage ? Number((e.target as HTMLElement).dataset.seq) : focusSeq);
    const page = Math.max(1, Math.floor((scroller.current?.clientHeight ?? 600) / ESTIMATE_MSG));
    const move: Record<string, number> = { ArrowUp: -1, ArrowDown: 1, PageUp: -page, PageDown: page, Home: -Infinity, End: Infinity };
    if (e.key in move && !e.altKey && !e.ctrlKey && !e.metaKey) {
      e.preventDefault();
      // From the list itself an arrow lands on its current message; the other keys move from it.
      const land = !onMessage && at >= 0 && (e.key === 'ArrowUp' || e.key === 'ArrowDown');
      const to = land ? at : Math.max(0, Math.min(seqs.length - 1, (at < 0 ? seqs.length : at) + move[e.key]));
      focusMessage(seqs[to]);
      return;
    }
    if (e.key === 'Escape') {
      e.preventDefault();
      actions.compose();
      return;
    }
    if (!onMessage) return;
    const m = c.messages.get(Number((e.target as HTMLElement).dataset.seq));
    if (!m || m.deleted) return;
    if (e.key === 'Enter' || e.key === 'ContextMenu' || (e.key === 'F10' && e.shiftKey)) {
      e.preventDefault();
      setMenuFor(m.seq);
    } else if (e.key === 'r' || e.key === 'R') {
      e.preventDefault();
      actions.reply(m);
    } else if ((e.key === 'e' || e.key === 'E') && m.sender_id === me) {
      e.preventDefault();
      actions.edit(m);
    } else if (e.key === 'Delete' && canDelete(c, m)) {
      e.preventDefault();
      deleteMessage(m);
    }
  }

  useEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setView({ top: el.scrollTop, height: el.clientHeight }));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  const visible = rows.slice(start, end);
  return (
    <div class="messages-wrap">
    <div
      class="messages"
      ref={scroller}
      onScroll={onScroll}
      onKeyDown={onKeyDown}
      role="log"
      aria-label="Messages"
      aria-keyshortcuts="ArrowUp ArrowDown Home End Enter Escape"
      tabIndex={0}
      data-total={rows.length}
    >
      {c.loadingOlder && <div class="loading-older" role="status">Loading older messages…</div>}
      {/* Whenever the first message is loaded, not only when its row is rendered: a line that
          came and went with the window changed the height it was computed from, and a list just
          taller than the overscan flipped between the two forever. */}
      {c.oldest === 1 && (
        <div class="beginning">{rows.length ? 'This is the beginning of the conversation.' : 'No messages yet. Say hello!'}</div>
      )}
      <div style={{ height: `${offsets[start]}px` }} aria-hidden="true" />
      {visible.map((r) => {
        if (r.kind === 'day') {
          return (
            <div key={r.key} data-row={r.key} class="day" role="separator" aria-label={r.label}>
              <span>{r.label}</span>
            </div>
          );
        }
        if (r.kind === 'new') {
          return (
            <div key={r.key} data-row={r.key} class="new-divider" role="separator" aria-label="New messages">
              <span>New messages</span>
            </div>
          );
        }
        if (r.kind === 'pending') return <PendingRow key={r.key} item={r.item} />;
        const seenBy = r.m.seq === lastMine ? readSeqs.filter((m) => m.read_seq >= r.m.seq) : [];
        return (
          <MessageRow
            key={r.key}
            c={c}
            m={r.m}
            head={r.head}
            seenBy={seenBy.map((m) => m.user_id)}
            flash={r.m.seq === flash}
            mentionNames={mentionNames}
            actions={actions}
            onFocus={() => setCurrent(r.m.seq)}
            menuOpen={menuFor === r.m.seq}
            closeMenu={(refocus) => {
              setMenuFor(null);
              if (refocus) focusMessage(r.m.seq);
            }}
          />
        );
      })}
      <div style={{ height: `${total - offsets[end]}px` }} aria-hidden="true" />
      {behind && (
        <div class="loading-newer" role="status">
          Loading newer messages…
        </div>
      )}
    </div>
      {(unreadBeyond || (dividerAt >= 0 && offsets[dividerAt + 1] <= view.top)) && (
        <button type="button" class="jump jump-unread" onClick={toFirstUnread}>
          ↑ {countAfter(c, c.readMark, me)} new {countAfter(c, c.readMark, me) === 1 ? 'message' : 'messages'}
        </button>
      )}
      {(!atBottom || behind) && (
        <JumpToBottom
          count={countAfter(c, seenSeq.current, me) + (behind ? Math.max(0, c.summary.conversation.last_seq - Math.max(seenSeq.current, c.newest)) : 0)}
          onClick={() => void toBottom()}
        />
      )}
    </div>
  );
}

function JumpToBottom({ count, onClick }: { count: number; onClick: () => void }) {
  return (
    <button type="button" class="jump jump-bottom" onClick={onClick} aria-label={count ? `Jump to the newest message, ${count} new` : 'Jump to the newest message'}>
      ↓{count > 0 && <span class="badge" aria-hidden="true">{count > 99 ? '99+' : count}</span>}
    </button>
  );
}

function canDelete(c: ConvState, m: MessageView): boolean {
  const role = c.summary.me.role;
  return !m.deleted && (m.sender_id === store.me?.id || role === 'admin' || role === 'owner');
}

function deleteMessage(m: MessageView): void {
  if (confirm('Delete this message?')) void store.command({ type: 'delete', conversation_id: m.conversation_id, seq: m.seq }).catch(() => {});
}

function toggleReaction(m: MessageView, emoji: string): void {
  const me = store.me;
  const has = m.reactions?.some((r) => r.emoji === emoji && me && r.user_ids.includes(me.id));
  void store.command({ type: has ? 'unreact' : 'react', conversation_id: m.conversation_id, seq: m.seq, emoji }).catch(() => {});
}

function PendingRow({ item }: { item: OutboxItem }) {
  const me = store.me;
  return (
    <div data-row={`p${item.client_msg_id}`} class="msg mine pending" data-pending={item.client_msg_id}>
      <div class="bubble">
        {!!item.attachments?.length && (
          <ul class="pending-files">
            {item.attachments.map((a) => (
              <PendingFile key={a.key} attachment={a} />
            ))}
          </ul>
        )}
        {item.text && <div class="text">{item.text}</div>}
        <div class="meta">
          {item.error ? (
            <span class="failed" role="alert">
              Not sent: {item.error}{' '}
              <button class="link" onClick={() => store.outbox?.retry(item.client_msg_id)}>
                Retry
              </button>{' '}
              <button class="link" onClick={() => store.outbox?.discard(item.client_msg_id)}>
                Discard
              </button>
            </span>
          ) : item.attachments?.some((a) => !a.file_id && !store.outbox?.upload(a.key)) ? (
            <span class="status">
              Waiting for its files to upload in another tab{' '}
              <button class="link" onClick={() => store.outbox?.discard(item.client_msg_id)}>
                Discard
              </button>
            </span>
          ) : (
            <span class="status">Sending…</span>
          )}
        </div>
      </div>
      <span class="sr-only">{me?.display_name}</span>
    </div>
  );
}

/** A file of an unsent message, with its upload's progress while this tab runs it. */
function PendingFile({ attachment }: { attachment: OutboxAttachment }) {
  const upload = store.outbox?.upload(attachment.key);
  const [, bump] = useState(0);
  useEffect(() => upload?.subscribe(() => bump((n) => n + 1)), [upload]);
  return (
    <li class="small-text">
      📎 {attachment.name} <span class="muted">{formatBytes(attachment.size)}</span>
      {upload?.state === 'uploading' && <progress max={upload.total || 1} value={upload.sent} aria-label={`Uploading ${attachment.name}`} />}
    </li>
  );
}

function MessageRow(props: {
  c: ConvState;
  m: MessageView;
  head: boolean;
  seenBy: Uuid[];
  mentionNames: Set<string>;
  actions: ListActions;
  flash: boolean;
  onFocus: () => void;
  menuOpen: boolean;
  closeMenu: (refocus: boolean) => void;
}) {
  const { c, m, head, seenBy, mentionNames, actions, flash, menuOpen, closeMenu } = props;
  const me = store.me;
  const mine = m.sender_id === me?.id;
  const deletable = canDelete(c, m);
  const [picking, setPicking] = useState(false);
  // The list is one tab stop: a message's controls are reached by pointer, or by keyboard
  // through its menu (Enter on the message).
  const tab = -1;
  const name = store.displayName(m.sender_id);
  const mentionsMe = !!me && !!m.mentions?.includes(me.id);
  const reply = m.reply_to_seq ? c.messages.get(m.reply_to_seq) : undefined;
  const conv = c.summary.conversation.id;
  const toggle = (emoji: string) => toggleReaction(m, emoji);
  const row = useRef<HTMLDivElement>(null);
  // A menu or picker of a message in the lower half of the list opens upwards, so the list's
  // edge does not cut it.
  const opensUp = (menuOpen || picking) && lowerHalf(row.current);
  return (
    <div
      ref={row}
      data-row={`m${m.seq}`}
      data-seq={m.seq}
      data-msg={m.client_msg_id}
      class={`msg ${mine ? 'mine' : ''} ${head ? 'head' : ''} ${mentionsMe ? 'mentions-me' : ''} ${flash ? 'found' : ''} ${opensUp ? 'opens-up' : ''}`}
      tabIndex={-1}
      // A named row: aria-label is not allowed on a div without a role.
      role="article"
      aria-label={`${name}, ${timeLabel(m.created_at_ms)}`}
      onFocus={props.onFocus}
    >
      {!mine && (head ? <Avatar id={m.sender_id} name={name} user={store.user(m.sender_id)} size={32} /> : <span class="avatar-gap" />)}
      <div class="bubble">
        {head && !mine && <div class="sender">{name}</div>}
        {m.reply_to_seq && (
          <button
            type="button"
            class="reply-quote"
            tabIndex={tab}
            dir="auto"
            title="Go to the message replied to"
            onClick={() => m.reply_to_seq && void store.jumpTo(conv, m.reply_to_seq)}
          >
            <span class="muted">↪ {reply ? store.displayName(reply.sender_id) : 'Reply'}:</span>{' '}
            {reply ? (reply.deleted ? 'deleted message' : previewText(reply).slice(0, 120)) : `message #${m.reply_to_seq}`}
          </button>
        )}
        {!m.deleted && !!m.attachments?.length && <Attachments files={m.attachments} />}
        {(m.deleted || m.text) && (
          <div class={m.deleted ? 'text deleted' : 'text'} dir="auto">
            {m.deleted ? 'This message was deleted' : <RichText text={m.text} mentionNames={mentionNames} myName={me?.username} />}
          </div>
        )}
        <div class="meta">
          {m.edited_at_ms && !m.deleted && <span class="edited">edited</span>}
          <time dateTime={new Date(m.created_at_ms).toISOString()}>{timeLabel(m.created_at_ms)}</time>
        </div>
        {!!m.reactions?.length && (
          <div class="reactions">
            {m.reactions.map((r) => (
              <button
                key={r.emoji}
                class={me && r.user_ids.includes(me.id) ? 'reaction mine' : 'reaction'}
                tabIndex={tab}
                aria-pressed={!!me && r.user_ids.includes(me.id)}
                aria-label={`${r.emoji} ${r.user_ids.length}, reacted by ${r.user_ids.map((u) => store.displayName(u)).join(', ')}`}
                onClick={() => toggle(r.emoji)}
              >
                <span class="emoji-glyph">{r.emoji}</span> {r.user_ids.length}
              </button>
            ))}
          </div>
        )}
        {!m.deleted && (
          <div class="toolbar" role="toolbar" aria-label="Message actions">
            {REACTIONS.slice(0, 4).map((e) => (
              <button key={e} class="icon small emoji-glyph" tabIndex={tab} aria-label={`React ${e}`} onClick={() => toggle(e)}>
                {e}
              </button>
            ))}
            <button class="icon small" tabIndex={tab} aria-label="React with another emoji" aria-haspopup="dialog" onClick={() => setPicking(true)}>
              <Icon d="M12 21a9 9 0 1 1 0-18 9 9 0 0 1 0 18zM8.5 14.5s1.2 1.5 3.5 1.5 3.5-1.5 3.5-1.5M9 9.5h.01M15 9.5h.01" />
            </button>
            <button class="icon small" tabIndex={tab} aria-label="Reply" onClick={() => actions.reply(m)}>
              ↩
            </button>
            {mine && (
              <button class="icon small" tabIndex={tab} aria-label="Edit" onClick={() => actions.edit(m)}>
                <Icon d="M4 20h4L19 9l-4-4L4 16v4zM14 6l4 4" />
              </button>
            )}
            {deletable && (
              <button class="icon small" tabIndex={tab} aria-label="Delete" onClick={() => deleteMessage(m)}>
                <Icon d="M5 7h14M10 7V4h4v3M7 7l1 13h8l1-13" />
              </button>
            )}
          </div>
        )}
        {menuOpen && (
          <MessageMenu
            m={m}
            mine={mine}
            deletable={deletable}
            onClose={closeMenu}
            actions={actions}
            react={() => (closeMenu(false), setPicking(true))}
          />
        )}
        {picking && (
          <EmojiPicker
            label="React with an emoji"
            onPick={(emoji) => {
              setPicking(false);
              toggle(emoji);
            }}
            onClose={() => setPicking(false)}
          />
        )}
        {seenBy.length > 0 && (
          <div class="seen" data-testid="seen">
            {c.summary.conversation.kind === 'direct' ? 'Seen' : `Seen by ${seenBy.map((u) => store.displayName(u)).join(', ')}`}
          </div>
        )}
      </div>
    </div>
  );
}

/** Whether the row sits in the lower half of its list. */
function lowerHalf(row: HTMLElement | null): boolean {
  const list = row?.closest('.messages')?.getBoundingClientRect();
  const box = row?.getBoundingClientRect();
  return !!list && !!box && box.top - list.top > list.height / 2;
}

/** A message's actions as a menu, for the keyboard (and screen readers): arrows move, Escape
 *  closes and gives the focus back to the message. */
function MessageMenu(props: { m: MessageView; mine: boolean; deletable: boolean; actions: ListActions; react: () => void; onClose: (refocus: boolean) => void }) {
  const { m, mine, deletable, actions, react, onClose } = props;
  const ref = useRef<HTMLDivElement>(null);
  // Before paint: a key pressed as soon as the menu shows goes to it.
  useLayoutEffect(() => ref.current?.querySelector<HTMLButtonElement>('[role=menuitem]')?.focus(), []);
  const items: [string, () => void][] = [
    ['Reply', () => (onClose(false), actions.reply(m))],
    ['React…', react],
    ...(m.reply_to_seq ? ([['Go to the message replied to', () => (onClose(false), void store.jumpTo(m.conversation_id, m.reply_to_seq!))]] as [string, () => void][]) : []),
    ...(mine ? ([['Edit', () => (onClose(false), actions.edit(m))]] as [string, () => void][]) : []),
    ['Copy text', () => (void navigator.clipboard?.writeText(m.text).catch(() => {}), onClose(true))],
    ...(deletable ? ([['Delete', () => (onClose(true), deleteMessage(m))]] as [string, () => void][]) : []),
  ];
  function onKeyDown(e: KeyboardEvent) {
    const buttons = [...(ref.current?.querySelectorAll<HTMLButtonElement>('[role=menuitem]') ?? [])];
    const i = buttons.indexOf(document.activeElement as HTMLButtonElement);
    const step = { ArrowDown: 1, ArrowUp: -1, Home: -i, End: buttons.length - 1 - i }[e.key];
    if (step !== undefined) {
      e.preventDefault();
      buttons[(i + step + buttons.length) % buttons.length]?.focus();
    } else if (e.key === 'Escape' || e.key === 'Tab') {
      e.preventDefault();
      e.stopPropagation();
      onClose(true);
    }
  }
  return (
    <div ref={ref} class="msg-menu" role="menu" aria-label="Message actions" onKeyDown={onKeyDown} onFocusOut={(e) => !ref.current?.contains(e.relatedTarget as Node | null) && onClose(false)}>
      {items.map(([label, run]) => (
        <button key={label} type="button" role="menuitem" tabIndex={-1} onClick={run}>
          {label}
        </button>
      ))}
    </div>
  );
}

function Icon({ d }: { d: string }) {
  return (
    <svg width="16" height="16" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">
      <path d={d} />
    </svg>
  );
}
