import { useEffect } from 'preact/hooks';
import { store, useStore } from '../store';
import { Auth } from './Auth';
import { Chat } from './Chat';
import { navigate, routeId } from './Dialogs';
import { Sidebar } from './Sidebar';
import { showUnread, unreadTotal } from './tabBadge';

export function App() {
  const s = useStore();
  useEffect(() => {
    if (s.me) {
      s.start();
      navigate(routeId(), true);
    }
    const onPop = () => void store.open(routeId());
    const onVisible = () => store.activeId && store.markRead(store.activeId);
    window.addEventListener('popstate', onPop);
    document.addEventListener('visibilitychange', onVisible);
    window.addEventListener('focus', onVisible);
    return () => {
      window.removeEventListener('popstate', onPop);
      document.removeEventListener('visibilitychange', onVisible);
      window.removeEventListener('focus', onVisible);
    };
  }, [!!s.me]);

  useEffect(() => showUnread(s.me ? unreadTotal(s.convs.values()) : 0));

  if (!s.me) return <Auth />;
  const active = s.activeId ? s.convs.get(s.activeId) : undefined;
  return (
    <div class={`app ${active ? 'has-active' : ''}`}>
      <Sidebar />
      <main class="main" aria-label="Conversation">
        {active ? (
          <Chat c={active} />
        ) : (
          <div class="placeholder">
            <h1>Welcome{s.me.display_name ? `, ${s.me.display_name}` : ''}</h1>
            <p class="muted">Pick a conversation, or start a new one.</p>
          </div>
        )}
      </main>
    </div>
  );
}
