import { useEffect } from 'preact/hooks';
import { followHistory, navigate, routeId } from '../router';
import { unreadTotal } from '../state/select';
import { store, useSelector } from '../store';
import { Auth } from './Auth';
import { Chat } from './Chat';
import { Sidebar } from './Sidebar';
import { showUnread } from './tabBadge';

export function App() {
  const me = useSelector((s) => s.me);
  const activeId = useSelector((s) => (s.activeId && s.convs.has(s.activeId) ? s.activeId : null));
  const notFound = useSelector((s) => s.notFound);
  const unread = useSelector((s) => (s.me ? unreadTotal(s) : 0));
  useEffect(() => {
    if (!me) return;
    store.start();
    navigate(routeId(), true);
    // Signed in with no conversation open: the focus starts in the search box (a conversation
    // open puts it in its composer); not on a phone, where it would raise the keyboard.
    if (!routeId() && matchMedia('(min-width: 721px)').matches) {
      requestAnimationFrame(() => document.querySelector<HTMLInputElement>('.search input')?.focus());
    }
    const stopHistory = followHistory();
    const onVisible = () => store.activeId && store.markRead(store.activeId);
    document.addEventListener('visibilitychange', onVisible);
    window.addEventListener('focus', onVisible);
    return () => {
      stopHistory();
      document.removeEventListener('visibilitychange', onVisible);
      window.removeEventListener('focus', onVisible);
    };
  }, [!!me]);

  useEffect(() => showUnread(unread), [unread]);

  if (!me) return <Auth />;
  return (
    <div class={`app ${activeId || notFound ? 'has-active' : ''}`}>
      <Sidebar />
      <main class="main" aria-label="Conversation">
        {activeId ? (
          <Chat id={activeId} />
        ) : notFound ? (
          <div class="placeholder" role="alert">
            <h1>Conversation not found</h1>
            <p class="muted">It does not exist, or you are not a member of it.</p>
            <button onClick={() => navigate(null)}>Back to conversations</button>
          </div>
        ) : (
          <div class="placeholder">
            <h1>Welcome{me.display_name ? `, ${me.display_name}` : ''}</h1>
            <p class="muted">Pick a conversation, or start a new one.</p>
          </div>
        )}
      </main>
    </div>
  );
}
