// The pure state layer (src/state): every rule of how frames change what the app shows, with
// plain objects and no browser or server. Compiled from TypeScript by tsconfig.unit.json first.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
let reduce, applyEvent, initialState, firstUnread, typers, unreadTotal, sortedConversations;

before(async () => {
  execFileSync(join(web, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.unit.json'], { cwd: web, stdio: 'inherit' });
  ({ reduce, applyEvent } = await import(join(web, '.unit/state/reducer.js')));
  ({ initialState } = await import(join(web, '.unit/state/model.js')));
  ({ firstUnread, typers, unreadTotal, sortedConversations } = await import(join(web, '.unit/state/select.js')));
});

const ME = '00000000-0000-4000-8000-000000000001';
const ANA = '00000000-0000-4000-8000-000000000002';
const BOB = '00000000-0000-4000-8000-000000000003';
const C1 = '10000000-0000-4000-8000-000000000001';
const C2 = '10000000-0000-4000-8000-000000000002';

const user = (id, name) => ({ id, username: name, display_name: name, created_at_ms: 0 });
const member = (conv, user_id, read_seq = 0) => ({ conversation_id: conv, user_id, role: 'member', muted: false, read_seq, delivered_seq: read_seq, joined_at_ms: 0 });
const summary = (id, { last_seq = 0, read_seq = 0, unread = 0, activity = 0 } = {}) => ({
  conversation: { id, kind: 'group', name: `group ${id.slice(-1)}`, created_by: ANA, created_at_ms: 0, last_seq, last_mod: last_seq, last_activity_ms: activity, member_count: 3 },
  me: member(id, ME, read_seq),
  unread_count: unread,
  mention_count: 0,
});
const msg = (conv, seq, sender, { mod = seq, text = `m${seq}`, mentions } = {}) => ({
  id: String(seq), conversation_id: conv, seq, mod_seq: mod, sender_id: sender, client_msg_id: `c${seq}`, text, created_at_ms: 1000 + seq, ...(mentions ? { mentions } : {}),
});
const NOW = 1_000_000;
const ev = (event) => ({ type: 'event', event, now: NOW });
const run = (state, ...actions) => actions.reduce(reduce, state);

/** Signed in, one conversation with `last_seq` messages of which the last page is loaded. */
function withLoaded(last_seq = 3, read_seq = last_seq) {
  let s = run(initialState(user(ME, 'me')), { type: 'summaries', list: [summary(C1, { last_seq, read_seq })] });
  const page = Array.from({ length: last_seq }, (_, i) => msg(C1, i + 1, ANA));
  return run(s, { type: 'loading', id: C1, loaded: true }, { type: 'page', id: C1, page, mode: 'newest' });
}

describe('messages', () => {
  test('a new message from someone else is added and counted unread once', () => {
    const s0 = withLoaded(3);
    const s1 = applyEvent(s0, { type: 'message.new', message: msg(C1, 4, ANA) }, NOW);
    const c = s1.convs.get(C1);
    assert.equal(c.messages.get(4).text, 'm4');
    assert.equal(c.newest, 4);
    assert.equal(c.summary.unread_count, 1);
    assert.equal(c.summary.conversation.last_seq, 4);
    assert.equal(c.summary.last_message.seq, 4);
    // The same event again (a resumed replay): nothing changes, not even the object.
    assert.equal(applyEvent(s1, { type: 'message.new', message: msg(C1, 4, ANA) }, NOW), s1);
  });

  test('a resume that replays events already seen counts nothing twice', () => {
    let s = withLoaded(2);
    for (const seq of [3, 4, 5]) s = applyEvent(s, { type: 'message.new', message: msg(C1, seq, BOB) }, NOW);
    const before = s;
    // The socket dropped after 5; the resume replays from 3.
    for (const seq of [3, 4, 5]) s = applyEvent(s, { type: 'message.new', message: msg(C1, seq, BOB) }, NOW);
    assert.equal(s, before);
    assert.equal(s.convs.get(C1).summary.unread_count, 3);
    assert.deepEqual([...s.convs.get(C1).messages.keys()], [1, 2, 3, 4, 5]);
  });

  test('my message: the ack and the event, in either order, add it once and count nothing', () => {
    const s0 = withLoaded(3);
    const mine = msg(C1, 4, ME);
    const ackFirst = run(s0, { type: 'message', message: mine }, ev({ type: 'message.new', message: mine }));
    const eventFirst = run(s0, ev({ type: 'message.new', message: mine }), { type: 'message', message: mine });
    for (const s of [ackFirst, eventFirst]) {
      const c = s.convs.get(C1);
      assert.equal(c.messages.get(4), mine);
      assert.equal(c.summary.unread_count, 0);
      assert.equal(c.summary.conversation.last_seq, 4);
    }
    // The second of the two was a no-op.
    assert.equal(reduce(run(s0, { type: 'message', message: mine }), ev({ type: 'message.new', message: mine })).convs.get(C1).messages.get(4), mine);
  });

  test('an edit replaces the message; an older version arriving late is ignored', () => {
    const s0 = withLoaded(3);
    const edited = msg(C1, 3, ANA, { mod: 5, text: 'fixed' });
    const s1 = applyEvent(s0, { type: 'message.updated', message: edited }, NOW);
    assert.equal(s1.convs.get(C1).messages.get(3).text, 'fixed');
    assert.equal(s1.convs.get(C1).summary.last_message.text, 'fixed');
    assert.equal(s1.convs.get(C1).summary.unread_count, 0, 'an edit is not a new message');
    assert.equal(applyEvent(s1, { type: 'message.updated', message: msg(C1, 3, ANA, { mod: 4, text: 'typo' }) }, NOW), s1);
  });

  test('in a conversation not loaded, only the preview and counters move, and a stale copy does not win', () => {
    let s = run(initialState(user(ME, 'me')), { type: 'summaries', list: [summary(C1, { last_seq: 7 })] });
    s = applyEvent(s, { type: 'message.new', message: msg(C1, 8, ANA, { mentions: [ME] }) }, NOW);
    let c = s.convs.get(C1);
    assert.equal(c.messages.size, 0);
    assert.equal(c.summary.unread_count, 1);
    assert.equal(c.summary.mention_count, 1);
    s = applyEvent(s, { type: 'message.updated', message: msg(C1, 8, ANA, { mod: 9, text: 'v2' }) }, NOW);
    const stale = applyEvent(s, { type: 'message.updated', message: msg(C1, 8, ANA, { mod: 8, text: 'v1' }) }, NOW);
    assert.equal(stale.convs.get(C1).summary.last_message.text, 'v2');
  });

  test('a message for a conversation I do not have changes nothing', () => {
    const s0 = withLoaded(1);
    assert.equal(applyEvent(s0, { type: 'message.new', message: msg(C2, 1, ANA) }, NOW), s0);
  });

  test('history pages extend the loaded span backwards; an empty page means the beginning', () => {
    let s = run(initialState(user(ME, 'me')), { type: 'summaries', list: [summary(C1, { last_seq: 250 })] }, { type: 'loading', id: C1, loaded: true });
    s = reduce(s, { type: 'page', id: C1, page: Array.from({ length: 100 }, (_, i) => msg(C1, 151 + i, ANA)), mode: 'newest' });
    assert.equal(s.convs.get(C1).oldest, 151);
    s = reduce(s, { type: 'page', id: C1, page: Array.from({ length: 100 }, (_, i) => msg(C1, 51 + i, ANA)), mode: 'older' });
    assert.equal(s.convs.get(C1).oldest, 51);
    assert.equal(s.convs.get(C1).newest, 250);
    s = reduce(s, { type: 'page', id: C1, page: [], mode: 'older' });
    assert.equal(s.convs.get(C1).oldest, 1);
  });
});

describe('windows of history', () => {
  test('a window around an old message replaces the span; live messages wait until it reaches the present', () => {
    let s = run(initialState(user(ME, 'me')), { type: 'summaries', list: [summary(C1, { last_seq: 500, read_seq: 500 })] }, { type: 'loading', id: C1, loaded: true });
    s = reduce(s, { type: 'page', id: C1, page: Array.from({ length: 100 }, (_, i) => msg(C1, 401 + i, ANA)), mode: 'newest' });
    s = reduce(s, { type: 'page', id: C1, page: Array.from({ length: 100 }, (_, i) => msg(C1, 51 + i, ANA)), mode: 'around' });
    let c = s.convs.get(C1);
    assert.deepEqual([c.oldest, c.newest, c.messages.size], [51, 150, 100]);
    // A new message is counted but not put after the window (that would be a gap).
    s = applyEvent(s, { type: 'message.new', message: msg(C1, 501, ANA) }, NOW);
    c = s.convs.get(C1);
    assert.equal(c.messages.has(501), false);
    assert.equal(c.summary.conversation.last_seq, 501);
    // An edit inside the window shows.
    s = applyEvent(s, { type: 'message.updated', message: msg(C1, 60, ANA, { mod: 600, text: 'edited' }) }, NOW);
    assert.equal(s.convs.get(C1).messages.get(60).text, 'edited');
    // Scrolling down loads newer pages; older ones extend it back.
    s = reduce(s, { type: 'page', id: C1, page: Array.from({ length: 100 }, (_, i) => msg(C1, 151 + i, ANA)), mode: 'newer' });
    s = reduce(s, { type: 'page', id: C1, page: Array.from({ length: 50 }, (_, i) => msg(C1, 1 + i, ANA)), mode: 'older' });
    c = s.convs.get(C1);
    assert.deepEqual([c.oldest, c.newest, c.messages.size], [1, 250, 250]);
    // Back to the present: the newest page does not meet the span, so it replaces it.
    s = reduce(s, { type: 'page', id: C1, page: Array.from({ length: 100 }, (_, i) => msg(C1, 402 + i, ANA)), mode: 'newest' });
    c = s.convs.get(C1);
    assert.deepEqual([c.oldest, c.newest, c.messages.size], [402, 501, 100]);
    s = applyEvent(s, { type: 'message.new', message: msg(C1, 502, ANA) }, NOW);
    assert.equal(s.convs.get(C1).newest, 502);
  });

  test('a message that overtakes the first page is kept, and the page merges with it', () => {
    let s = run(initialState(user(ME, 'me')), { type: 'summaries', list: [summary(C1, { last_seq: 10 })] }, { type: 'loading', id: C1, loaded: true });
    s = applyEvent(s, { type: 'message.new', message: msg(C1, 11, ANA) }, NOW);
    s = reduce(s, { type: 'page', id: C1, page: Array.from({ length: 10 }, (_, i) => msg(C1, 1 + i, ANA)), mode: 'newest' });
    const c = s.convs.get(C1);
    assert.deepEqual([c.oldest, c.newest, c.messages.size], [1, 11, 11]);
  });

  test('a summary that runs ahead of the messages (a resume) does not stop live messages', () => {
    let s = withLoaded(4);
    s = applyEvent(s, { type: 'conversation', summary: summary(C1, { last_seq: 5, read_seq: 4 }) }, NOW);
    s = applyEvent(s, { type: 'message.new', message: msg(C1, 5, ANA) }, NOW);
    assert.equal(s.convs.get(C1).newest, 5);
  });

  test('my ack that overtakes an earlier message of someone else leaves no hole', () => {
    let s = withLoaded(4);
    s = reduce(s, { type: 'message', message: msg(C1, 6, ME) });
    s = applyEvent(s, { type: 'message.new', message: msg(C1, 5, ANA) }, NOW);
    assert.deepEqual([...s.convs.get(C1).messages.keys()], [1, 2, 3, 4, 6, 5]);
  });
});

describe('read state', () => {
  test('my read cursor only moves forward and clears the counters when it reaches the end', () => {
    let s = withLoaded(3, 1);
    s = applyEvent(s, { type: 'message.new', message: msg(C1, 4, ANA) }, NOW);
    s = reduce(s, { type: 'my-member', member: member(C1, ME, 2) });
    assert.equal(s.convs.get(C1).summary.unread_count, 1, 'read up to 2 of 4: still unread');
    s = applyEvent(s, { type: 'receipt', conversation_id: C1, user_id: ME, read_seq: 4, delivered_seq: 4 }, NOW);
    assert.equal(s.convs.get(C1).summary.unread_count, 0);
    assert.equal(s.convs.get(C1).summary.me.read_seq, 4);
    s = reduce(s, { type: 'my-member', member: member(C1, ME, 3) });
    assert.equal(s.convs.get(C1).summary.me.read_seq, 4, 'a late, older cursor does not move it back');
  });

  test('opening a conversation marks where "new messages" starts: the first message of someone else after my read mark', () => {
    let s = withLoaded(3, 3);
    s = applyEvent(s, { type: 'message.new', message: msg(C1, 4, ME) }, NOW);
    s = applyEvent(s, { type: 'message.new', message: msg(C1, 5, ANA) }, NOW);
    s = reduce(s, { type: 'open', id: C1 });
    const c = s.convs.get(C1);
    assert.equal(c.readMark, 3);
    assert.equal(firstUnread(c, ME).seq, 5);
    // Reading it keeps the divider where it was while the conversation stays open.
    s = reduce(s, { type: 'my-member', member: member(C1, ME, 5) });
    assert.equal(firstUnread(s.convs.get(C1), ME).seq, 5);
    // Opened again later: nothing new.
    s = run(s, { type: 'open', id: null }, { type: 'open', id: C1 });
    assert.equal(firstUnread(s.convs.get(C1), ME), undefined);
  });

  test('no divider while the first unread is not loaded (it would sit at the wrong place)', () => {
    let s = run(initialState(user(ME, 'me')), { type: 'summaries', list: [summary(C1, { last_seq: 300, read_seq: 5 })] }, { type: 'loading', id: C1, loaded: true });
    s = run(s, { type: 'page', id: C1, page: Array.from({ length: 100 }, (_, i) => msg(C1, 201 + i, ANA)), mode: 'newest' }, { type: 'open', id: C1 });
    assert.equal(firstUnread(s.convs.get(C1), ME), undefined);
    s = reduce(s, { type: 'page', id: C1, page: Array.from({ length: 200 }, (_, i) => msg(C1, 1 + i, ANA)), mode: 'older' });
    assert.equal(firstUnread(s.convs.get(C1), ME).seq, 6);
  });

  test('messages seen as they came move the read mark; it never goes back', () => {
    let s = run(withLoaded(3, 3), { type: 'open', id: C1 });
    s = applyEvent(s, { type: 'message.new', message: msg(C1, 4, ANA) }, NOW);
    s = reduce(s, { type: 'read-mark', id: C1, seq: 4 });
    assert.equal(firstUnread(s.convs.get(C1), ME), undefined);
    assert.equal(reduce(s, { type: 'read-mark', id: C1, seq: 2 }), s);
  });

  test('muted conversations do not count in the total', () => {
    let s = run(initialState(user(ME, 'me')), { type: 'summaries', list: [summary(C1, { unread: 2 }), { ...summary(C2, { unread: 5 }), me: { ...member(C2, ME), muted: true } }] });
    assert.equal(unreadTotal(s), 2);
  });
});

describe('typing, presence, members', () => {
  test('a typing event changes neither the conversations nor the users: the lists do not re-render', () => {
    const s0 = withLoaded(3);
    const s1 = applyEvent(s0, { type: 'typing', conversation_id: C1, user_id: ANA, expires_in_ms: 5000 }, NOW);
    assert.notEqual(s1, s0);
    assert.equal(s1.convs, s0.convs);
    assert.equal(s1.users, s0.users);
    assert.deepEqual(typers(s1, C1, NOW), [ANA]);
    assert.deepEqual(typers(s1, C1, NOW + 5001), []);
    // Expiry of an older typing event leaves a newer one alone.
    const s2 = applyEvent(s1, { type: 'typing', conversation_id: C1, user_id: ANA, expires_in_ms: 5000 }, NOW + 3000);
    assert.equal(reduce(s2, { type: 'typing-expired', conv: C1, user: ANA, until: NOW + 5000 }), s2);
    assert.deepEqual(typers(reduce(s2, { type: 'typing-expired', conv: C1, user: ANA, until: NOW + 8000 }), C1, NOW), []);
    // Their message ends it at once.
    const s3 = applyEvent(s1, { type: 'message.new', message: msg(C1, 4, ANA) }, NOW);
    assert.deepEqual(typers(s3, C1, NOW), []);
  });

  test('my own typing echo is ignored', () => {
    const s0 = withLoaded(1);
    assert.equal(applyEvent(s0, { type: 'typing', conversation_id: C1, user_id: ME, expires_in_ms: 5000 }, NOW), s0);
  });

  test('presence updates a known user and ignores an unknown one', () => {
    let s = reduce(withLoaded(1), { type: 'users', users: [user(ANA, 'ana')] });
    assert.equal(applyEvent(s, { type: 'presence', user_id: BOB, online: true }, NOW), s);
    s = applyEvent(s, { type: 'presence', user_id: ANA, online: true }, NOW);
    assert.equal(s.users.get(ANA).online, true);
    // A search result without presence does not erase it.
    s = reduce(s, { type: 'users', users: [user(ANA, 'ana')] });
    assert.equal(s.users.get(ANA).online, true);
  });

  test('being removed drops the conversation and closes it; someone else leaving updates the count', () => {
    let s = run(withLoaded(1), { type: 'members', id: C1, members: [member(C1, ME), member(C1, ANA), member(C1, BOB)] }, { type: 'open', id: C1 });
    s = applyEvent(s, { type: 'member.removed', conversation_id: C1, user_id: BOB, by: ANA }, NOW);
    assert.equal(s.convs.get(C1).summary.conversation.member_count, 2);
    assert.deepEqual(s.convs.get(C1).members.map((m) => m.user_id), [ME, ANA]);
    // The same removal again (replayed): no double decrement.
    assert.equal(applyEvent(s, { type: 'member.removed', conversation_id: C1, user_id: BOB, by: ANA }, NOW), s);
    s = applyEvent(s, { type: 'member.removed', conversation_id: C1, user_id: ME, by: ANA }, NOW);
    assert.equal(s.convs.has(C1), false);
    assert.equal(s.activeId, null);
  });

  test('being added to a group I did not have creates it', () => {
    const s0 = run(initialState(user(ME, 'me')), { type: 'summaries', list: [] });
    const conv = summary(C2).conversation;
    const s1 = applyEvent(s0, { type: 'member.added', conversation: conv, member: member(C2, ME), by: ANA }, NOW);
    assert.equal(s1.convs.get(C2).summary.conversation.name, 'group 2');
    assert.equal(applyEvent(s0, { type: 'member.added', conversation: conv, member: member(C2, BOB), by: ANA }, NOW), s0);
  });
});

describe('the list and the connection', () => {
  test('conversations sort by last activity, and the sorted list is the same array until they change', () => {
    let s = run(initialState(user(ME, 'me')), { type: 'summaries', list: [summary(C1, { activity: 1 }), summary(C2, { activity: 2 })] });
    const first = sortedConversations(s);
    assert.deepEqual(first.map((c) => c.summary.conversation.id), [C2, C1]);
    assert.equal(sortedConversations(applyEvent(s, { type: 'typing', conversation_id: C1, user_id: ANA, expires_in_ms: 10 }, NOW)), first);
    s = reduce(s, { type: 'loading', id: C1, loaded: true });
    s = applyEvent(s, { type: 'message.new', message: { ...msg(C1, 1, ANA), created_at_ms: 5 } }, NOW);
    assert.deepEqual(sortedConversations(s).map((c) => c.summary.conversation.id), [C1, C2]);
  });

  test('"back online" shows after a reconnect and clears itself', () => {
    let s = initialState(user(ME, 'me'));
    s = reduce(s, { type: 'connection', state: 'connected', everConnected: false, now: NOW });
    assert.equal(s.backOnlineUntil, 0, 'the first connection is not a comeback');
    s = reduce(s, { type: 'connection', state: 'connecting', everConnected: true, now: NOW });
    assert.equal(s.connection, 'offline');
    s = reduce(s, { type: 'connection', state: 'connected', everConnected: true, now: NOW });
    assert.equal(s.backOnlineUntil, NOW + 3000);
    s = reduce(s, { type: 'connection', state: 'connected', everConnected: true, now: NOW + 3100 });
    assert.equal(s.backOnlineUntil, 0);
  });

  test('an unknown conversation link says not found, and opening another clears it', () => {
    let s = run(initialState(user(ME, 'me')), { type: 'open', id: C2 }, { type: 'not-found', id: C2 });
    assert.equal(s.notFound, C2);
    assert.equal(s.activeId, null);
    s = reduce(s, { type: 'open', id: null });
    assert.equal(s.notFound, null);
  });
});

describe('the copy saved on this device (state/cache.ts)', () => {
  const page = (conv, from, to, sender = ANA) => Array.from({ length: to - from + 1 }, (_, i) => msg(conv, from + i, sender));
  const saved = (conv, opts, messages = null) => ({ summary: summary(conv, opts), messages });
  const restored = () =>
    run(initialState(user(ME, 'me')), {
      type: 'cached',
      convs: [saved(C1, { last_seq: 5, activity: 2 }, page(C1, 3, 5)), saved(C2, { last_seq: 9, activity: 1 })],
      users: [{ ...user(ANA, 'ana'), online: true, last_seen_ms: 5 }, user(ME, 'stale me')],
    });

  test('restored: the list, the saved messages shown as loaded, users without presence, and not "listReady"', () => {
    const s = restored();
    assert.equal(s.fromCache, true);
    assert.equal(s.listReady, false, 'the server has not said the list is complete');
    const c1 = s.convs.get(C1);
    assert.deepEqual([...c1.messages.keys()], [3, 4, 5]);
    assert.equal(c1.oldest, 3);
    assert.equal(c1.newest, 5);
    assert.equal(c1.loaded, true);
    assert.equal(c1.savedMessages, true);
    assert.equal(c1.savedSummary, true);
    const c2 = s.convs.get(C2);
    assert.equal(c2.loaded, false);
    assert.equal(c2.oldest, null);
    assert.equal(s.users.get(ANA).online, undefined, 'presence is not news from a saved copy');
    assert.equal(s.users.get(ANA).last_seen_ms, undefined);
    assert.equal(s.users.get(ME).username, 'me', 'what is known wins');
  });

  test('a saved conversation loaded and empty restores as loaded and empty; saved messages with a gap are not restored', () => {
    const s = reduce(initialState(user(ME, 'me')), {
      type: 'cached',
      convs: [saved(C1, {}, []), saved(C2, { last_seq: 9 }, [msg(C2, 3, ANA), msg(C2, 5, ANA)])],
      users: [],
    });
    assert.equal(s.convs.get(C1).loaded, true);
    assert.equal(s.convs.get(C1).oldest, 1);
    assert.equal(s.convs.get(C1).newest, 0);
    assert.equal(s.convs.get(C2).loaded, false);
    assert.equal(s.convs.get(C2).messages.size, 0);
  });

  test("the server's list replaces the saved one: a conversation removed meanwhile disappears, one an event brought stays", () => {
    const C3 = '10000000-0000-4000-8000-000000000003';
    let s = run(restored(), { type: 'open', id: C2 });
    // An event before the list: a conversation I was added to meanwhile.
    s = applyEvent(s, { type: 'conversation', summary: summary(C3, { activity: 3 }) }, NOW);
    s = reduce(s, { type: 'summaries', list: [summary(C1, { last_seq: 7, activity: 4 })] });
    assert.deepEqual([...s.convs.keys()].sort(), [C1, C3]);
    assert.equal(s.activeId, null, 'the open conversation was removed: closed');
    assert.equal(s.listReady, true);
    assert.equal(s.fromCache, false);
    const c1 = s.convs.get(C1);
    assert.equal(c1.savedSummary, false);
    assert.equal(c1.summary.conversation.last_seq, 7);
    assert.equal(c1.savedMessages, true, 'its messages are still the saved ones until its page comes');
    assert.equal(s.users.get(ANA).username, 'ana', 'a peer without presence is kept (the store fetches it again)');
  });

  test('a saved copy read after the server list came adds no conversation the server does not have', () => {
    let s = run(initialState(user(ME, 'me')), { type: 'summaries', list: [summary(C1, { last_seq: 9 })] });
    s = reduce(s, { type: 'cached', convs: [saved(C1, { last_seq: 5 }, page(C1, 3, 5)), saved(C2, {})], users: [] });
    assert.deepEqual([...s.convs.keys()], [C1]);
    assert.equal(s.convs.get(C1).summary.conversation.last_seq, 9, "the server's summary wins");
    assert.deepEqual([...s.convs.get(C1).messages.keys()], [3, 4, 5], 'saved messages shown while its page loads');
    assert.equal(s.fromCache, false);
    // Messages already loaded are never replaced by saved ones.
    const loaded = withLoaded(3);
    assert.equal(reduce(loaded, { type: 'cached', convs: [saved(C1, { last_seq: 9 }, page(C1, 7, 9))], users: [] }), loaded);
  });

  test("the newest page replaces saved messages (stale, maybe before a gap); live ones that follow it stay", () => {
    let s = restored();
    // Offline, the server went on to 300; a saved message was edited meanwhile.
    s = applyEvent(s, { type: 'message.new', message: msg(C1, 302, BOB) }, NOW);
    assert.equal(s.convs.get(C1).messages.has(302), false, 'not after a gap');
    assert.equal(s.convs.get(C1).summary.conversation.last_seq, 302, 'the preview moves');
    s = reduce(s, { type: 'page', id: C1, page: page(C1, 201, 300), mode: 'newest' });
    let c = s.convs.get(C1);
    assert.equal(c.oldest, 201);
    assert.equal(c.newest, 300);
    assert.equal(c.messages.size, 100);
    assert.equal(c.messages.has(5), false, 'saved messages gone');
    assert.equal(c.savedMessages, false);
    // From here, live messages follow as usual.
    s = applyEvent(s, { type: 'message.new', message: msg(C1, 301, BOB) }, NOW);
    assert.equal(s.convs.get(C1).newest, 301);

    // Live messages that came on top of the saved ones, without a gap, stay above the page.
    s = restored();
    s = applyEvent(s, { type: 'message.new', message: msg(C1, 6, BOB) }, NOW);
    s = applyEvent(s, { type: 'message.updated', message: msg(C1, 4, ANA, { mod: 9, text: 'edited' }) }, NOW);
    s = reduce(s, { type: 'page', id: C1, page: [msg(C1, 3, ANA), msg(C1, 4, ANA, { mod: 7, text: 'older edit' }), msg(C1, 5, ANA)], mode: 'newest' });
    c = s.convs.get(C1);
    assert.deepEqual([...c.messages.keys()].sort((a, b) => a - b), [3, 4, 5, 6]);
    assert.equal(c.newest, 6);
    assert.equal(c.messages.get(4).text, 'edited', 'the higher mod_seq wins');
  });
});

describe('settings: my profile, group details, mute', () => {
  test('renaming myself updates `me` and my entry among the users, keeping presence; another id changes nothing', () => {
    let s = run(initialState(user(ME, 'me')), { type: 'users', users: [{ ...user(ME, 'me'), online: true }] });
    const renamed = { ...user(ME, 'me'), display_name: 'Mia Mercer' };
    s = run(s, { type: 'users', users: [renamed] }, { type: 'me', me: renamed });
    assert.equal(s.me.display_name, 'Mia Mercer');
    assert.equal(s.users.get(ME).display_name, 'Mia Mercer');
    assert.equal(s.users.get(ME).online, true, 'presence kept');
    // The same answer again, or someone else's profile: the same state.
    assert.equal(reduce(s, { type: 'me', me: renamed }), s);
    assert.equal(reduce(s, { type: 'me', me: user(ANA, 'ana') }), s);
    assert.equal(reduce(initialState(null), { type: 'me', me: renamed }).me, null);
  });

  test('a user.updated event about me (a rename on another device) updates `me` too', () => {
    const s = applyEvent(initialState(user(ME, 'me')), { type: 'user.updated', user: { ...user(ME, 'me'), display_name: 'Elsewhere' } }, NOW);
    assert.equal(s.me.display_name, 'Elsewhere');
    assert.equal(s.users.get(ME).display_name, 'Elsewhere');
  });

  test('a picture: set and removed by user.updated (a view without `avatar` has none), for `me` too; fresh URLs replace old ones', () => {
    const picture = (file, signed) => ({ file_id: file, url_small: `/s/${file}?${signed}`, url_large: `/l/${file}?${signed}`, url_expires_at_ms: signed });
    let s = run(initialState(user(ME, 'me')), { type: 'users', users: [user(ME, 'me'), { ...user(ANA, 'ana'), online: true }] });
    s = applyEvent(s, { type: 'user.updated', user: { ...user(ANA, 'ana'), avatar: picture('f1', 1) } }, NOW);
    assert.equal(s.users.get(ANA).avatar.file_id, 'f1');
    assert.equal(s.users.get(ANA).online, true, 'presence kept');
    // The same picture fetched again (GET /users/{id}): its new URLs are taken.
    s = run(s, { type: 'users', users: [{ ...user(ANA, 'ana'), avatar: picture('f1', 2) }] });
    assert.equal(s.users.get(ANA).avatar.url_small, '/s/f1?2');
    s = applyEvent(s, { type: 'user.updated', user: user(ANA, 'ana') }, NOW);
    assert.equal('avatar' in s.users.get(ANA), false, 'removed');
    assert.equal(s.users.get(ANA).online, true);

    // Mine, from my own answer and from the event of another device.
    s = run(s, { type: 'me', me: { ...user(ME, 'me'), avatar: picture('f2', 1) } });
    assert.equal(s.me.avatar.file_id, 'f2');
    assert.equal(reduce(s, { type: 'me', me: { ...user(ME, 'me'), avatar: picture('f2', 1) } }), s, 'the same answer again');
    s = applyEvent(s, { type: 'user.updated', user: user(ME, 'me') }, NOW);
    assert.equal('avatar' in s.me, false);
    s = applyEvent(s, { type: 'user.updated', user: { ...user(ME, 'me'), avatar: picture('f3', 1) } }, NOW);
    assert.equal(s.me.avatar.file_id, 'f3');
    s = run(s, { type: 'me', me: user(ME, 'me') });
    assert.equal('avatar' in s.me, false, 'removed in my answer');
  });

  test('conversation.updated renames and sets the topic; a view without a topic clears it', () => {
    let s = withLoaded(2);
    const conv = s.convs.get(C1).summary.conversation;
    s = applyEvent(s, { type: 'conversation.updated', conversation: { ...conv, name: 'Renamed', topic: 'Plans' } }, NOW);
    assert.equal(s.convs.get(C1).summary.conversation.name, 'Renamed');
    assert.equal(s.convs.get(C1).summary.conversation.topic, 'Plans');
    assert.equal(s.convs.get(C1).messages.size, 2, 'messages kept');
    const { topic: _cleared, ...withoutTopic } = { ...conv, name: 'Renamed' };
    s = applyEvent(s, { type: 'conversation.updated', conversation: withoutTopic }, NOW);
    assert.equal(s.convs.get(C1).summary.conversation.topic, undefined);
    assert.equal(s.convs.get(C1).summary.conversation.name, 'Renamed');
  });

  test('muting (the answer to PUT mute) marks my member row and takes it out of the unread total', () => {
    let s = run(initialState(user(ME, 'me')), { type: 'summaries', list: [summary(C1, { last_seq: 3, unread: 3 })] });
    assert.equal(unreadTotal(s), 3);
    s = reduce(s, { type: 'my-member', member: { ...member(C1, ME), muted: true } });
    assert.equal(s.convs.get(C1).summary.me.muted, true);
    assert.equal(unreadTotal(s), 0);
    s = reduce(s, { type: 'my-member', member: { ...member(C1, ME), muted: false } });
    assert.equal(unreadTotal(s), 3, 'unmuted: counted again, the unread kept');
  });

  test('muting on another device (member.updated about me) mutes here too', () => {
    let s = run(initialState(user(ME, 'me')), { type: 'summaries', list: [summary(C1, { last_seq: 3, unread: 3 })] });
    s = applyEvent(s, { type: 'member.updated', member: { ...member(C1, ME), muted: true } }, NOW);
    assert.equal(s.convs.get(C1).summary.me.muted, true);
    assert.equal(unreadTotal(s), 0);
    assert.equal(s.convs.get(C1).summary.unread_count, 3, 'the unread kept');
  });
});
