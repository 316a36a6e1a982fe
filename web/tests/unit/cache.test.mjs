// What is saved on this device for a reload while offline (src/state/snapshot.ts, written to
// IndexedDB by src/state/cache.ts): which conversations and messages are kept, always a gap-free
// run ending at the newest loaded seq, bounded; and that a save writes only what changed.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
let reduce, initialState, keptMessages, takeSnapshot, changes, KEEP_CONVERSATIONS, KEEP_PAGES, KEEP_MESSAGES;

before(async () => {
  execFileSync(join(web, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.unit.json'], { cwd: web, stdio: 'inherit' });
  ({ reduce } = await import(join(web, '.unit/state/reducer.js')));
  ({ initialState } = await import(join(web, '.unit/state/model.js')));
  ({ keptMessages, takeSnapshot, changes, KEEP_CONVERSATIONS, KEEP_PAGES, KEEP_MESSAGES } = await import(join(web, '.unit/state/snapshot.js')));
});

const ME = '00000000-0000-4000-8000-000000000001';
const ANA = '00000000-0000-4000-8000-000000000002';
const BOB = '00000000-0000-4000-8000-000000000003';
const CAT = '00000000-0000-4000-8000-000000000004';
const conv = (n) => `10000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

const user = (id, name) => ({ id, username: name, display_name: name, created_at_ms: 0 });
const member = (c, user_id) => ({ conversation_id: c, user_id, role: 'member', muted: false, read_seq: 0, delivered_seq: 0, joined_at_ms: 0 });
const summary = (id, { last_seq = 0, activity = 0, peer } = {}) => ({
  conversation: { id, kind: peer ? 'direct' : 'group', name: 'g', created_by: ANA, created_at_ms: 0, last_seq, last_mod: last_seq, last_activity_ms: activity, member_count: 2 },
  me: member(id, ME),
  unread_count: 0,
  mention_count: 0,
  ...(peer ? { peer } : {}),
});
const msg = (c, seq, sender = ANA, extra = {}) => ({ id: `${c}/${seq}`, conversation_id: c, seq, mod_seq: seq, sender_id: sender, client_msg_id: `c${seq}`, text: `m${seq}`, created_at_ms: seq, ...extra });
const range = (c, from, to, sender) => Array.from({ length: to - from + 1 }, (_, i) => msg(c, from + i, sender));
const run = (state, ...actions) => actions.reduce(reduce, state);
const signedIn = () => ({ ...initialState(user(ME, 'me')), users: new Map([[ME, user(ME, 'me')], [ANA, { ...user(ANA, 'ana'), online: false }], [BOB, user(BOB, 'bob')], [CAT, user(CAT, 'cat')]]) });
/** Conversation `n` with messages `from`..`to` loaded (the newest page first, then older ones). */
const loaded = (state, n, from, to, { activity = n, sender } = {}) => {
  const id = conv(n);
  let s = run(state, { type: 'summary', summary: summary(id, { last_seq: to, activity }) }, { type: 'loading', id, loaded: true });
  const pages = [];
  for (let top = to; top >= from; top -= 100) pages.push(range(id, Math.max(from, top - 99), top, sender));
  pages.forEach((page, i) => (s = reduce(s, { type: 'page', id, page, older: i > 0 })));
  if (from === 1 && !pages.length) s = reduce(s, { type: 'page', id, page: [], mode: 'newest' });
  return s;
};

describe('the messages kept of a conversation', () => {
  test('the newest ones, at most a page, as one run ending at the newest loaded seq', () => {
    const s = loaded(signedIn(), 1, 1, 250);
    const kept = keptMessages(s.convs.get(conv(1)));
    assert.equal(kept.length, KEEP_MESSAGES);
    assert.deepEqual(kept.map((m) => m.seq), Array.from({ length: 100 }, (_, i) => 151 + i));
    // Fewer loaded than a page: all of them.
    assert.deepEqual(keptMessages(loaded(signedIn(), 2, 1, 7).convs.get(conv(2))).map((m) => m.seq), [1, 2, 3, 4, 5, 6, 7]);
  });

  test('never past a gap, and none before a page is loaded', () => {
    const s = loaded(signedIn(), 1, 1, 20);
    const c = s.convs.get(conv(1));
    const holed = new Map(c.messages);
    holed.delete(15);
    assert.deepEqual(keptMessages({ ...c, messages: holed }).map((m) => m.seq), [16, 17, 18, 19, 20]);
    const fetching = run(signedIn(), { type: 'summary', summary: summary(conv(2), { last_seq: 5 }) }, { type: 'loading', id: conv(2), loaded: true });
    assert.deepEqual(keptMessages(fetching.convs.get(conv(2))), []);
  });
});

describe('the snapshot', () => {
  test('the most recent conversations; messages of the most recent loaded ones, the open one first', () => {
    let s = signedIn();
    const total = KEEP_CONVERSATIONS + 20;
    for (let n = 1; n <= total; n++) s = n % 2 ? loaded(s, n, 1, 3) : reduce(s, { type: 'summary', summary: summary(conv(n), { activity: n }) });
    // Open an old one (outside the page budget by recency, inside the conversation budget).
    const old = conv(total - KEEP_CONVERSATIONS + 1);
    s = reduce(s, { type: 'open', id: old });
    const snap = takeSnapshot(s);
    assert.equal(snap.convs.size, KEEP_CONVERSATIONS);
    assert.equal(snap.convs.has(conv(total)), true);
    assert.equal(snap.convs.has(conv(total - KEEP_CONVERSATIONS)), false, 'the oldest beyond the budget are dropped');
    const withMessages = [...snap.convs.values()].filter((c) => c.messages !== null);
    assert.equal(withMessages.length, KEEP_PAGES);
    assert.deepEqual(snap.convs.get(old).messages.map((m) => m.seq), [1, 2, 3], 'the open conversation is kept whatever its age');
    assert.equal(snap.convs.get(conv(total)).messages, null, 'not loaded: summary only');
    assert.equal(snap.convs.get(conv(total - 1)).messages.length, 3);
  });

  test('a conversation loaded and empty is saved as empty; one not loaded as no messages', () => {
    let s = loaded(signedIn(), 1, 1, 0);
    s = reduce(s, { type: 'summary', summary: summary(conv(2)) });
    const snap = takeSnapshot(s);
    assert.deepEqual(snap.convs.get(conv(1)).messages, []);
    assert.equal(snap.convs.get(conv(2)).messages, null);
  });

  test('the users the kept conversations and messages mention, and me', () => {
    let s = loaded(signedIn(), 1, 1, 2, { sender: BOB });
    s = reduce(s, { type: 'message', message: msg(conv(1), 3, ANA, { mentions: [CAT] }) });
    s = reduce(s, { type: 'summary', summary: summary(conv(2), { peer: ANA }) });
    assert.deepEqual([...takeSnapshot(s).users.keys()].sort(), [ME, ANA, BOB, CAT].sort());
    const alone = reduce(signedIn(), { type: 'summary', summary: summary(conv(2), { peer: ANA }) });
    assert.deepEqual([...takeSnapshot(alone).users.keys()].sort(), [ME, ANA].sort());
  });

  test('a save writes only what changed since the last one', () => {
    let s = loaded(loaded(signedIn(), 1, 1, 3), 2, 1, 3);
    const first = takeSnapshot(s);
    const all = changes(null, first.convs);
    assert.equal(all.put.length, 2);
    assert.deepEqual(all.remove, []);
    // A typing event, a presence change: nothing of the conversations to write.
    assert.deepEqual(changes(first.convs, takeSnapshot(s).convs), { put: [], remove: [] });
    s = reduce(s, { type: 'message', message: msg(conv(2), 4, ANA) });
    const second = takeSnapshot(s);
    const delta = changes(first.convs, second.convs);
    assert.deepEqual(delta.put.map(([key]) => key), [conv(2)]);
    assert.deepEqual(delta.put[0][1].messages.map((m) => m.seq), [1, 2, 3, 4]);
    s = reduce(s, { type: 'event', event: { type: 'conversation.removed', conversation_id: conv(1) }, now: 0 });
    assert.deepEqual(changes(second.convs, takeSnapshot(s).convs), { put: [], remove: [conv(1)] });
  });
});
