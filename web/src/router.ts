// Client-side routing. Paths: `/` (the list), `/c/<conversation id>`. The URL is the source of
// truth: navigating pushes a path and opens what it names; the back button (popstate) opens
// what the restored path names.
import type { Uuid } from './natter';
import { store } from './store';

const CONVERSATION = /^\/c\/([^/]+)\/?$/;

/** The conversation the current path names (not checked: a malformed id shows "not found"),
 *  or null. */
export function routeId(): Uuid | null {
  const id = CONVERSATION.exec(location.pathname)?.[1];
  return id ? decodeURIComponent(id) : null;
}

export function navigate(id: Uuid | null, replace = false): void {
  const path = id ? `/c/${id}` : '/';
  if (location.pathname !== path) history[replace ? 'replaceState' : 'pushState'](null, '', path);
  void store.open(id);
}

/** Opens what the path names when the user goes back or forward. */
export function followHistory(): () => void {
  const onPop = () => void store.open(routeId());
  window.addEventListener('popstate', onPop);
  return () => window.removeEventListener('popstate', onPop);
}
