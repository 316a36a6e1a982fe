// Dialogs: new direct message, new group, members. Native <dialog> (focus handling, Escape).
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ComponentChildren } from 'preact';
import { ApiError, type UserView, type Uuid } from '../natter';
import { navigate } from '../router';
import { store, useSelector } from '../store';
import { Avatar, presenceLabel } from './common';

export function Modal({ title, onClose, children }: { title: string; onClose: () => void; children: ComponentChildren }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
    return () => dialog?.close();
  }, []);
  return (
    <dialog
      ref={ref}
      class="modal"
      aria-labelledby="modal-title"
      onClose={onClose}
      onClick={(e) => e.target === ref.current && onClose()}
    >
      <div class="modal-body">
        <header>
          <h2 id="modal-title">{title}</h2>
          <button class="icon" aria-label="Close" onClick={onClose}>
            ✕
          </button>
        </header>
        {children}
      </div>
    </dialog>
  );
}

/** Search users by username prefix; `onPick` for each chosen result. */
export function UserSearch({ onPick, exclude, label }: { onPick: (u: UserView) => void; exclude: Set<Uuid>; label: string }) {
  const [query, setQuery] = useState('');
  const [results, setResults] = useState<UserView[]>([]);
  useEffect(() => {
    const q = query.trim().toLowerCase();
    if (!q) {
      setResults([]);
      return;
    }
    const timer = setTimeout(() => {
      store.api
        .searchUsers(q, 10)
        .then((users) => {
          store.dispatch({ type: 'users', users });
          setResults(users);
        })
        .catch(() => setResults([]));
    }, 150);
    return () => clearTimeout(timer);
  }, [query]);
  const shown = results.filter((u) => !exclude.has(u.id));
  return (
    <div class="user-search">
      <label>
        {label}
        <input
          type="search"
          value={query}
          autoFocus
          placeholder="Username"
          onInput={(e) => setQuery((e.target as HTMLInputElement).value)}
        />
      </label>
      <ul class="results" aria-label="Matching users">
        {shown.map((u) => (
          <li key={u.id}>
            <button class="row" onClick={() => onPick(u)}>
              <Avatar id={u.id} name={u.display_name || u.username} />
              <span>
                <strong>{u.display_name || u.username}</strong> <span class="muted">@{u.username}</span>
              </span>
            </button>
          </li>
        ))}
        {query.trim() && shown.length === 0 && <li class="muted empty">No matching users</li>}
      </ul>
    </div>
  );
}

export function NewDirect({ onClose }: { onClose: () => void }) {
  const [error, setError] = useState('');
  const me = store.me?.id ?? '';
  return (
    <Modal title="New message" onClose={onClose}>
      <UserSearch
        label="To"
        exclude={new Set([me])}
        onPick={async (u) => {
          try {
            const summary = await store.api.createDirect(u.id);
            store.upsertSummary(summary);
            onClose();
            navigate(summary.conversation.id);
          } catch (e) {
            setError(e instanceof ApiError ? e.message : 'Could not start the conversation');
          }
        }}
      />
      {error && <p class="error" role="alert">{error}</p>}
    </Modal>
  );
}

export function NewGroup({ onClose }: { onClose: () => void }) {
  const [name, setName] = useState('');
  const [picked, setPicked] = useState<UserView[]>([]);
  const [error, setError] = useState('');
  const exclude = new Set([store.me?.id ?? '', ...picked.map((u) => u.id)]);
  async function create(e: Event) {
    e.preventDefault();
    try {
      const summary = await store.api.createGroup(name.trim(), picked.map((u) => u.id));
      store.upsertSummary(summary);
      onClose();
      navigate(summary.conversation.id);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : 'Could not create the group');
    }
  }
  return (
    <Modal title="New group" onClose={onClose}>
      <form onSubmit={create} class="stack">
        <label>
          Group name
          <input value={name} required maxLength={100} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
        </label>
        {picked.length > 0 && (
          <ul class="chips" aria-label="Members to add">
            {picked.map((u) => (
              <li key={u.id}>
                {u.display_name || u.username}
                <button type="button" class="icon small" aria-label={`Remove ${u.username}`} onClick={() => setPicked(picked.filter((p) => p.id !== u.id))}>
                  ✕
                </button>
              </li>
            ))}
          </ul>
        )}
        <UserSearch label="Add people" exclude={exclude} onPick={(u) => setPicked([...picked, u])} />
        {error && <p class="error" role="alert">{error}</p>}
        <button class="primary" type="submit" disabled={!name.trim()}>
          Create group
        </button>
      </form>
    </Modal>
  );
}

export function Members({ id, onClose }: { id: Uuid; onClose: () => void }) {
  const s = store;
  const c = useSelector((state) => state.convs.get(id));
  useSelector((state) => state.users);
  const [error, setError] = useState('');
  const [adding, setAdding] = useState(false);
  useEffect(() => void s.loadMembers(id), [id]);
  if (!c) return null;
  const myRole = c.summary.me.role;
  const canManage = c.summary.conversation.kind === 'group' && (myRole === 'owner' || myRole === 'admin');
  const members = c.members ?? [];
  const act = (p: Promise<unknown>) =>
    p.then(() => s.loadMembers(id)).catch((e) => setError(e instanceof ApiError ? e.message : 'Failed'));
  return (
    <Modal title={`Members (${c.summary.conversation.member_count})`} onClose={onClose}>
      <ul class="members" aria-label="Members">
        {members.map((m) => {
          const u = s.user(m.user_id);
          const name = s.displayName(m.user_id);
          const self = m.user_id === s.me?.id;
          return (
            <li key={m.user_id} class="row">
              <Avatar id={m.user_id} name={name} online={u?.online} />
              <span class="grow">
                <strong>{name}</strong>
                {self && ' (you)'} <span class="muted">{m.role !== 'member' ? m.role : ''}</span>
                <br />
                <small class="muted">{presenceLabel(u)}</small>
              </span>
              {canManage && !self && m.role !== 'owner' && (
                <>
                  <button class="small" onClick={() => act(s.api.setRole(id, m.user_id, m.role === 'admin' ? 'member' : 'admin'))}>
                    {m.role === 'admin' ? 'Make member' : 'Make admin'}
                  </button>
                  <button class="small danger" aria-label={`Remove ${name}`} onClick={() => act(s.api.removeMember(id, m.user_id))}>
                    Remove
                  </button>
                </>
              )}
            </li>
          );
        })}
      </ul>
      {error && <p class="error" role="alert">{error}</p>}
      {canManage &&
        (adding ? (
          <UserSearch
            label="Add member"
            exclude={new Set(members.map((m) => m.user_id))}
            onPick={(u) => act(s.api.addMember(id, u.id))}
          />
        ) : (
          <button onClick={() => setAdding(true)}>Add members</button>
        ))}
      {c.summary.conversation.kind === 'group' && (
        <button
          class="danger"
          onClick={() => {
            if (!confirm('Leave this group?')) return;
            s.api
              .removeMember(id, s.me?.id ?? '')
              .then(() => {
                s.onEvent({ type: 'member.removed', conversation_id: id, user_id: s.me?.id ?? '', by: s.me?.id ?? '' });
                onClose();
                navigate(null);
              })
              .catch((e) => setError(e instanceof ApiError ? e.message : 'Failed'));
          }}
        >
          Leave group
        </button>
      )}
    </Modal>
  );
}

export { presenceLabel };
