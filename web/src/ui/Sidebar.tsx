import { useState } from 'preact/hooks';
import { previewText, sortedConversations, typers } from '../state/select';
import { store, useSelector, type ConvState } from '../store';
import { Avatar } from './common';
import { navigate } from '../router';
import { Members, NewDirect, NewGroup } from './Dialogs';
import { NotificationSettingsDialog } from './NotificationSettings';
import { SettingsDialog } from './Settings';
import { SearchBox, SearchResults } from './Search';
import { whenLabel } from './text';

export function ConnectionBanner() {
  const connection = useSelector((s) => s.connection);
  const backOnlineUntil = useSelector((s) => s.backOnlineUntil);
  // The browser knows before the socket does: show it at once.
  const browserOffline = useSelector((s) => s.browserOffline);
  // The list is the copy saved on this device until the server's comes.
  const fromCache = useSelector((s) => s.fromCache);
  const state = browserOffline && connection !== 'closed' ? 'offline' : connection;
  let text = '';
  let cls = '';
  if (state === 'connecting') (text = fromCache ? 'Connecting… — showing saved messages' : 'Connecting…'), (cls = 'connecting');
  else if (state === 'offline') (text = fromCache ? 'Offline — showing saved messages' : 'Offline — messages will be sent when you are back'), (cls = 'offline');
  else if (state === 'closed') (text = 'Disconnected'), (cls = 'offline');
  else if (backOnlineUntil > Date.now()) (text = 'Back online'), (cls = 'online');
  return (
    <div class={`conn ${cls}`} role="status" aria-live="polite" data-state={state}>
      {text}
    </div>
  );
}

function ConvItem({ c, active, typing }: { c: ConvState; active: boolean; typing: boolean }) {
  const s = store;
  const conv = c.summary.conversation;
  const title = s.title(c);
  const peer = c.summary.peer ? s.user(c.summary.peer) : undefined;
  const last = c.summary.last_message;
  const pending = s.outbox?.list(conv.id).length ?? 0;
  let preview = '';
  if (typing) preview = 'typing…';
  else if (last) {
    const who = last.sender_id === s.me?.id ? 'You: ' : conv.kind === 'group' ? `${s.displayName(last.sender_id)}: ` : '';
    preview = who + (last.deleted ? 'Message deleted' : previewText(last));
  } else if (pending) preview = 'Sending…';
  else preview = conv.kind === 'group' ? `${conv.member_count} members` : 'No messages yet';
  const unread = c.summary.unread_count;
  return (
    <li>
      <button
        class={`conv ${active ? 'active' : ''} ${unread ? 'unread' : ''}`}
        aria-current={active ? 'page' : undefined}
        data-conv={conv.id}
        onClick={() => navigate(conv.id)}
      >
        <Avatar id={conv.id === c.summary.conversation.id && peer ? peer.id : conv.id} name={title} user={conv.kind === 'direct' ? peer : undefined} online={conv.kind === 'direct' ? peer?.online : undefined} />
        <span class="conv-main">
          <span class="conv-top">
            <span class="conv-title">
              {title}
              {peer?.online && <span class="sr-only">, online</span>}
            </span>
            <span class="conv-time">{conv.last_activity_ms ? whenLabel(conv.last_activity_ms) : ''}</span>
          </span>
          <span class="conv-bottom">
            <span class={typing ? 'conv-preview typing' : 'conv-preview'}>{preview}</span>
            {c.summary.mention_count > 0 && (
              <span class="badge mention">
                @<span class="sr-only"> mentioned</span>
              </span>
            )}
            {unread > 0 && (
              <span class="badge" data-unread={unread}>
                {unread > 99 ? '99+' : unread}
                <span class="sr-only"> unread</span>
              </span>
            )}
          </span>
        </span>
      </button>
    </li>
  );
}

export function Sidebar() {
  const s = store;
  const [dialog, setDialog] = useState<'dm' | 'group' | 'notifications' | 'settings' | null>(null);
  const [query, setQuery] = useState('');
  const convs = useSelector(sortedConversations);
  const me = useSelector((s) => s.me);
  const activeId = useSelector((s) => s.activeId);
  const listReady = useSelector((s) => s.listReady);
  const typing = useSelector((s) => s.typing);
  // Names and presence in the list, and its "Sending…" previews.
  useSelector((s) => s.users);
  useSelector((s) => s.outboxVersion);
  const now = Date.now();
  function onKey(e: KeyboardEvent) {
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
    const items = [...(e.currentTarget as HTMLElement).querySelectorAll<HTMLButtonElement>('button.conv')];
    const i = items.indexOf(document.activeElement as HTMLButtonElement);
    const next = items[Math.max(0, Math.min(items.length - 1, i + (e.key === 'ArrowDown' ? 1 : -1)))];
    next?.focus();
    e.preventDefault();
  }
  return (
    <aside class="sidebar" aria-label="Conversations sidebar">
      <header class="side-head">
        <div class="brand">
          <span class="logo" aria-hidden="true">n</span>
          <span>natter</span>
        </div>
        {me && (
          <div class="me">
            <button
              class="small settings-button"
              aria-haspopup="dialog"
              title={`Signed in as ${me.display_name || me.username} (@${me.username})`}
              onClick={() => setDialog('settings')}
            >
              <Avatar id={me.id} name={me.display_name || me.username} user={me} size={22} />
              Settings
            </button>
            <button class="small" onClick={() => void s.signOut()}>
              Sign out
            </button>
          </div>
        )}
      </header>
      <ConnectionBanner />
      <div class="side-actions">
        <button onClick={() => setDialog('dm')}>New message</button>
        <button onClick={() => setDialog('group')}>New group</button>
        <button onClick={() => setDialog('notifications')}>Notifications</button>
      </div>
      <SearchBox query={query} onQuery={setQuery} />
      {query.trim() && <SearchResults query={query} convs={convs} onClose={() => setQuery('')} />}
      <nav aria-label="Conversations" onKeyDown={onKey} hidden={!!query.trim()}>
        <ul class="conv-list">
          {convs.map((c) => (
            <ConvItem
              key={c.summary.conversation.id}
              c={c}
              active={c.summary.conversation.id === activeId}
              typing={typing.has(c.summary.conversation.id) && typers(s.state, c.summary.conversation.id, now).length > 0}
            />
          ))}
        </ul>
        {listReady && convs.length === 0 && <p class="muted empty">No conversations yet. Start one with “New message”.</p>}
      </nav>
      {dialog === 'dm' && <NewDirect onClose={() => setDialog(null)} />}
      {dialog === 'group' && <NewGroup onClose={() => setDialog(null)} />}
      {dialog === 'notifications' && <NotificationSettingsDialog onClose={() => setDialog(null)} />}
      {dialog === 'settings' && (
        // Closing settings for the notifications dialog fires its close event late: it must not close that one.
        <SettingsDialog onClose={() => setDialog((d) => (d === 'settings' ? null : d))} onNotifications={() => setDialog('notifications')} />
      )}
    </aside>
  );
}

export { Members };
