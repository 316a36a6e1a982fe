// Dialogs: new direct message, new group, a conversation's details (a group's name and topic, mute, members). Native <dialog> (focus handling, Escape).
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ComponentChildren } from 'preact';
import { ApiError, type ConversationView, type UserView, type Uuid } from '../natter';
import { navigate } from '../router';
import { store, useSelector } from '../store';
import { Avatar, FormError, FormStatus, presenceLabel } from './common';

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
              <Avatar id={u.id} name={u.display_name || u.username} user={u} />
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
      <FormError text={error} />
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
        <FormError text={error} />
        <button class="primary" type="submit" disabled={!name.trim()}>
          Create group
        </button>
      </form>
    </Modal>
  );
}

/** A group's name and topic: a form for its owner and admins (PATCH /conversations/{id}), read
 *  only for the others. What shows comes from the conversation.updated event every member gets. */
function GroupDetails({ conv, canEdit }: { conv: ConversationView; canEdit: boolean }) {
  const saved = { name: conv.name ?? '', topic: conv.topic ?? '' };
  const [name, setName] = useState(saved.name);
  const [topic, setTopic] = useState(saved.topic);
  const [status, setStatus] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  // Someone else's change while the dialog is open: taken into each field not being edited.
  const shown = useRef(saved);
  useEffect(() => {
    const was = shown.current;
    shown.current = saved;
    setName((value) => (value === was.name ? saved.name : value));
    setTopic((value) => (value === was.topic ? saved.topic : value));
  }, [saved.name, saved.topic]);
  if (!canEdit) {
    return (
      <section class="group-details" aria-labelledby="group-details-heading">
        <h3 id="group-details-heading">About this group</h3>
        <dl>
          <dt>Name</dt>
          <dd>{saved.name || 'Group'}</dd>
          <dt>Topic</dt>
          <dd class={saved.topic ? 'topic' : 'muted'}>{saved.topic || 'No topic'}</dd>
        </dl>
        <p class="muted small-text">Only the group's owner and admins can change these.</p>
      </section>
    );
  }
  const patch: { name?: string; topic?: string } = {};
  if (name.trim() !== saved.name) patch.name = name.trim();
  if (topic.trim() !== saved.topic) patch.topic = topic.trim();
  const changed = Object.keys(patch).length > 0;
  async function save(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError('');
    setStatus('');
    try {
      await store.api.updateConversation(conv.id, patch);
      setName(name.trim());
      setTopic(topic.trim());
      setStatus('Saved');
    } catch (err) {
      setError(err instanceof ApiError ? err.message : 'Could not save');
    } finally {
      setBusy(false);
    }
  }
  return (
    <form class="group-details stack" onSubmit={save} aria-labelledby="group-details-heading">
      <h3 id="group-details-heading">About this group</h3>
      <label>
        Group name
        <input value={name} required maxLength={100} autoFocus onInput={(e) => (setName((e.target as HTMLInputElement).value), setStatus(''))} />
      </label>
      <label>
        <span>
          Topic <span class="hint">(optional)</span>
        </span>
        <textarea rows={2} maxLength={500} value={topic} onInput={(e) => (setTopic((e.target as HTMLTextAreaElement).value), setStatus(''))} />
      </label>
      <div class="actions">
        <button type="submit" class="primary" disabled={busy || !changed || !name.trim()}>
          Save
        </button>
        <FormStatus text={status} />
      </div>
      <FormError text={error} />
    </form>
  );
}

/** Mute for me (PUT /conversations/{id}/mute): no notifications but mentions, no unread count in the tab. */
function MuteToggle({ id, muted, first }: { id: Uuid; muted: boolean; first: boolean }) {
  // What was asked for, shown while the server answers.
  const [asked, setAsked] = useState<boolean | null>(null);
  const [error, setError] = useState('');
  async function toggle(on: boolean) {
    setAsked(on);
    setError('');
    try {
      store.dispatch({ type: 'my-member', member: await store.api.mute(id, on) });
    } catch (e) {
      setError(e instanceof ApiError ? e.message : 'Could not change it');
    } finally {
      setAsked(null);
    }
  }
  return (
    <div class="mute">
      <label class="check">
        <input
          type="checkbox"
          checked={asked ?? muted}
          disabled={asked !== null}
          autoFocus={first}
          aria-describedby="mute-hint"
          onChange={(e) => void toggle((e.target as HTMLInputElement).checked)}
        />
        Mute this conversation
      </label>
      <p id="mute-hint" class="hint small-text">
        Only mentions of you notify, and its unread messages do not count in the tab's title.
      </p>
      <FormError text={error} />
    </div>
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
  const conv = c.summary.conversation;
  const group = conv.kind === 'group';
  const myRole = c.summary.me.role;
  const canManage = group && (myRole === 'owner' || myRole === 'admin');
  const members = c.members ?? [];
  const act = (p: Promise<unknown>) =>
    p.then(() => s.loadMembers(id)).catch((e) => setError(e instanceof ApiError ? e.message : 'Failed'));
  return (
    <Modal title={group ? 'Group details' : 'Details'} onClose={onClose}>
      {group && <GroupDetails conv={conv} canEdit={canManage} />}
      <MuteToggle id={id} muted={c.summary.me.muted} first={!canManage} />
      <h3 id="members-heading">Members ({conv.member_count})</h3>
      <ul class="members" aria-labelledby="members-heading">
        {members.map((m) => {
          const u = s.user(m.user_id);
          const name = s.displayName(m.user_id);
          const self = m.user_id === s.me?.id;
          return (
            <li key={m.user_id} class="row">
              <Avatar id={m.user_id} name={name} user={u} online={u?.online} />
              <span class="grow">
                <strong>{name}</strong>
                {self && ' (you)'} <span class="muted">{m.role !== 'member' ? m.role : ''}</span>
                <br />
                <small class="muted">{presenceLabel(u)}</small>
              </span>
              {canManage && !self && m.role !== 'owner' && (
                <span class="member-actions" role="group" aria-label={name}>
                  <button class="small" onClick={() => act(s.api.setRole(id, m.user_id, m.role === 'admin' ? 'member' : 'admin'))}>
                    {m.role === 'admin' ? 'Make member' : 'Make admin'}
                  </button>
                  <button
                    class="small danger"
                    aria-label={`Remove ${name}`}
                    onClick={() => {
                      if (!confirm(`Remove ${name} from ${conv.name || 'this group'}?`)) return;
                      act(s.api.removeMember(id, m.user_id));
                    }}
                  >
                    Remove
                  </button>
                </span>
              )}
            </li>
          );
        })}
      </ul>
      <FormError text={error} />
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
      {group && (
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
