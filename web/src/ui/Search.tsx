// Search in the sidebar: one box that filters the conversation list by title (here, as you
// type) and searches messages on the server (GET /search/messages, after a pause in typing).
// A message result opens its conversation with the message loaded, scrolled to and marked.
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, type MessageHitView } from '../natter';
import { store, type ConvState } from '../store';
import { navigate } from '../router';
import { fold } from './fold';
import { whenLabel } from './text';

const DEBOUNCE_MS = 300;
const PAGE = 20;


/** Every word of `query` begins a word of `title`. */
export function titleMatches(title: string, query: string): boolean {
  const words = fold(title).split(/[^\p{L}\p{N}]+/u).filter(Boolean);
  const wanted = fold(query).split(/[^\p{L}\p{N}]+/u).filter(Boolean);
  return wanted.length > 0 && wanted.every((w) => words.some((t) => t.startsWith(w)));
}

type Found =
  | { state: 'idle' }
  | { state: 'searching' }
  | { state: 'done'; hits: MessageHitView[]; next?: string; more: boolean }
  | { state: 'error'; message: string };

export function SearchBox({ query, onQuery }: { query: string; onQuery: (q: string) => void }) {
  return (
    <div class="search">
      <input
        type="search"
        aria-label="Search conversations and messages"
        placeholder="Search"
        value={query}
        onInput={(e) => onQuery((e.currentTarget as HTMLInputElement).value)}
        onKeyDown={(e) => {
          if (e.key === 'Escape') {
            onQuery('');
            e.preventDefault();
          }
        }}
      />
    </div>
  );
}

export function SearchResults({ query, convs, onClose }: { query: string; convs: ConvState[]; onClose: () => void }) {
  const [found, setFound] = useState<Found>({ state: 'idle' });
  const asked = useRef(0);
  const q = query.trim();

  async function run(cursor?: string) {
    const ticket = ++asked.current;
    if (!cursor) setFound({ state: 'searching' });
    try {
      const page = await store.api.searchMessages({ q, limit: PAGE, cursor });
      if (ticket !== asked.current) return;
      setFound((before) => {
        const kept = cursor && before.state === 'done' ? before.hits : [];
        return { state: 'done', hits: [...kept, ...page.hits], next: page.next_cursor, more: false };
      });
    } catch (error) {
      if (ticket !== asked.current) return;
      const message =
        error instanceof ApiError && error.status === 400
          ? 'Type a word to search for.'
          : error instanceof ApiError && error.status === 429
            ? 'Too many searches; try again in a moment.'
            : error instanceof ApiError && error.status === 503
              ? 'Search is unavailable right now.'
              : 'Search failed; check your connection.';
      setFound({ state: 'error', message });
    }
  }

  useEffect(() => {
    if (!q) {
      asked.current++;
      setFound({ state: 'idle' });
      return;
    }
    const t = setTimeout(() => void run(), DEBOUNCE_MS);
    return () => clearTimeout(t);
  }, [q]);

  const titled = convs.filter((c) => titleMatches(store.title(c), q));
  function open(hit: MessageHitView) {
    const id = hit.message.conversation_id;
    navigate(id);
    void store.jumpTo(id, hit.message.seq);
    onClose();
  }
  return (
    <div class="search-results" aria-label="Search results" role="region">
      <h2 class="search-head">Conversations</h2>
      {titled.length ? (
        <ul class="conv-list">
          {titled.map((c) => (
            <li key={c.summary.conversation.id}>
              <button
                class="conv found-conv"
                onClick={() => {
                  navigate(c.summary.conversation.id);
                  onClose();
                }}
              >
                <span class="conv-title">{store.title(c)}</span>
              </button>
            </li>
          ))}
        </ul>
      ) : (
        <p class="muted empty">No conversation by that name.</p>
      )}
      <h2 class="search-head">Messages</h2>
      <div role="status" aria-live="polite" class="sr-only">
        {found.state === 'done' ? `${found.hits.length} messages found` : ''}
      </div>
      {found.state === 'searching' && <p class="muted empty">Searching…</p>}
      {found.state === 'error' && <p class="muted empty">{found.message}</p>}
      {found.state === 'done' && found.hits.length === 0 && !found.next && <p class="muted empty">No messages found.</p>}
      {found.state === 'done' && (
        <ul class="hit-list">
          {found.hits.map((hit) => {
            const m = hit.message;
            const c = store.convs.get(m.conversation_id);
            return (
              <li key={`${m.conversation_id}:${m.seq}`}>
                <button class="hit" data-hit={`${m.conversation_id}:${m.seq}`} onClick={() => open(hit)}>
                  <span class="hit-top">
                    <span class="hit-where">
                      {c ? store.title(c) : 'Conversation'} · {store.displayName(m.sender_id)}
                    </span>
                    <span class="conv-time">{whenLabel(m.created_at_ms)}</span>
                  </span>
                  <span class="hit-text" dir="auto">
                    {hit.snippet.map((part, i) => (part.hit ? <mark key={i}>{part.text}</mark> : part.text))}
                  </span>
                </button>
              </li>
            );
          })}
        </ul>
      )}
      {found.state === 'done' && found.next && (
        <button class="small more" onClick={() => void run(found.next)}>
          More results
        </button>
      )}
    </div>
  );
}
