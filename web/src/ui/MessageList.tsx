// The message list, virtualised: only the rows in (and near) the viewport are in the DOM, so a
// conversation of tens of thousands of messages stays smooth. Rows have measured heights (an
// estimate until measured); the list keeps its anchor row still while heights change or older
// pages are prepended, and sticks to the bottom while the user is there.
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import type { MessageView, OutboxAttachment, OutboxItem, Uuid } from '../natter';
import { previewText } from '../state/select';
import { store, useSelector, type ConvState } from '../store';
import { Attachments } from './Attachments';
import { Avatar, formatBytes } from './common';
import { RichText, dayKey, dayLabel, timeLabel } from './text';

type Row =
  | { key: string; kind: 'day'; label: string }
  | { key: string; kind: 'msg'; m: MessageView; head: boolean }
  | { key: string; kind: 'pending'; item: OutboxItem };

const ESTIMATE_MSG = 56;
const ESTIMATE_DAY = 40;
const OVERSCAN_PX = 600;
const LOAD_OLDER_PX = 1200;
const REACTIONS = ['👍', '❤️', '😂', '🎉', '😮', '😢'];

function buildRows(c: ConvState, pending: OutboxItem[]): Row[] {
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
}

export function MessageList({ c, actions }: { c: ConvState; actions: ListActions }) {
  const id = c.summary.conversation.id;
  // Names, unsent messages and a search result to show: the list's other inputs.
  useSelector((s) => s.users);
  useSelector((s) => s.outboxVersion);
  const focus = useSelector((s) => s.focus);
  const pending = store.outbox?.list(id) ?? [];
  const rows = buildRows(c, pending);
  const scroller = useRef<HTMLDivElement>(null);
  const heights = useRef(new Map<string, number>());
  const stick = useRef(true);
  const anchor = useRef<{ key: string; delta: number } | null>(null);
  const [view, setView] = useState({ top: 0, height: 800 });
  const [, setMeasured] = useState(0);
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
    const i = find(el.scrollTop);
    anchor.current = rows[i] ? { key: rows[i].key, delta: offsets[i] - el.scrollTop } : null;
    setView({ top: el.scrollTop, height: el.clientHeight });
    if (el.scrollTop < LOAD_OLDER_PX) void store.loadOlder(id);
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
    if (stick.current) {
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
  });

  useEffect(() => {
    if (flash === null) return;
    const el = scroller.current?.querySelector<HTMLElement>(`.msg[data-seq="${flash}"]`);
    el?.focus({ preventScroll: true });
    const t = setTimeout(() => setFlash(null), 2500);
    return () => clearTimeout(t);
  }, [flash]);

  // New conversation: start at the bottom.
  useEffect(() => {
    stick.current = true;
    anchor.current = null;
  }, [id]);

  useEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setView({ top: el.scrollTop, height: el.clientHeight }));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  const visible = rows.slice(start, end);
  return (
    <div
      class="messages"
      ref={scroller}
      onScroll={onScroll}
      role="log"
      aria-label="Messages"
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
          />
        );
      })}
      <div style={{ height: `${total - offsets[end]}px` }} aria-hidden="true" />
    </div>
  );
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
}) {
  const { c, m, head, seenBy, mentionNames, actions, flash } = props;
  const me = store.me;
  const mine = m.sender_id === me?.id;
  const role = c.summary.me.role;
  const canDelete = !m.deleted && (mine || role === 'admin' || role === 'owner');
  const name = store.displayName(m.sender_id);
  const mentionsMe = !!me && !!m.mentions?.includes(me.id);
  const reply = m.reply_to_seq ? c.messages.get(m.reply_to_seq) : undefined;
  const conv = c.summary.conversation.id;
  const toggle = (emoji: string) => {
    const has = m.reactions?.some((r) => r.emoji === emoji && me && r.user_ids.includes(me.id));
    void store.command({ type: has ? 'unreact' : 'react', conversation_id: conv, seq: m.seq, emoji }).catch(() => {});
  };
  return (
    <div
      data-row={`m${m.seq}`}
      data-seq={m.seq}
      data-msg={m.client_msg_id}
      class={`msg ${mine ? 'mine' : ''} ${head ? 'head' : ''} ${mentionsMe ? 'mentions-me' : ''} ${flash ? 'found' : ''}`}
      tabIndex={-1}
    >
      {!mine && (head ? <Avatar id={m.sender_id} name={name} size={32} /> : <span class="avatar-gap" />)}
      <div class="bubble">
        {head && !mine && <div class="sender">{name}</div>}
        {m.reply_to_seq && (
          <button
            type="button"
            class="reply-quote"
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
                aria-pressed={!!me && r.user_ids.includes(me.id)}
                aria-label={`${r.emoji} ${r.user_ids.length}, reacted by ${r.user_ids.map((u) => store.displayName(u)).join(', ')}`}
                onClick={() => toggle(r.emoji)}
              >
                {r.emoji} {r.user_ids.length}
              </button>
            ))}
          </div>
        )}
        {!m.deleted && (
          <div class="toolbar" role="toolbar" aria-label="Message actions">
            {REACTIONS.slice(0, 4).map((e) => (
              <button key={e} class="icon small" aria-label={`React ${e}`} onClick={() => toggle(e)}>
                {e}
              </button>
            ))}
            <button class="icon small" aria-label="Reply" onClick={() => actions.reply(m)}>
              ↩
            </button>
            {mine && (
              <button class="icon small" aria-label="Edit" onClick={() => actions.edit(m)}>
                <Icon d="M4 20h4L19 9l-4-4L4 16v4zM14 6l4 4" />
              </button>
            )}
            {canDelete && (
              <button
                class="icon small"
                aria-label="Delete"
                onClick={() => confirm('Delete this message?') && void store.command({ type: 'delete', conversation_id: conv, seq: m.seq }).catch(() => {})}
              >
                <Icon d="M5 7h14M10 7V4h4v3M7 7l1 13h8l1-13" />
              </button>
            )}
          </div>
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

function Icon({ d }: { d: string }) {
  return (
    <svg width="16" height="16" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">
      <path d={d} />
    </svg>
  );
}
