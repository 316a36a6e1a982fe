import { useEffect, useRef, useState } from 'preact/hooks';
import type { MessageView } from '../natter';
import { TEXT_MAX_CHARS } from '../natter/limits';
import { store, useStore, type ConvState } from '../store';
import { Avatar, presenceLabel } from './common';
import { Members, navigate } from './Dialogs';
import { MessageList } from './MessageList';

const TYPING_EVERY_MS = 3000;

export function Chat({ c }: { c: ConvState }) {
  const s = useStore();
  const [members, setMembers] = useState(false);
  const [replyTo, setReplyTo] = useState<MessageView | null>(null);
  const [editing, setEditing] = useState<MessageView | null>(null);
  const conv = c.summary.conversation;
  const title = s.title(c);
  const peer = c.summary.peer ? s.user(c.summary.peer) : undefined;
  const subtitle = conv.kind === 'direct' ? presenceLabel(peer) : `${conv.member_count} members${conv.topic ? ` · ${conv.topic}` : ''}`;
  const typers = [...c.typing.entries()].filter(([, until]) => until > Date.now()).map(([u]) => s.displayName(u));

  useEffect(() => {
    setReplyTo(null);
    setEditing(null);
  }, [conv.id]);

  return (
    <section class="chat" aria-label={`Conversation with ${title}`}>
      <header class="chat-head">
        <button class="icon back" aria-label="Back to conversations" onClick={() => navigate(null)}>
          ←
        </button>
        <Avatar id={peer ? peer.id : conv.id} name={title} online={conv.kind === 'direct' ? peer?.online : undefined} />
        <div class="grow">
          <h2 class="chat-title">{title}</h2>
          <div class="muted small-text">{subtitle}</div>
        </div>
        <button class="small" onClick={() => setMembers(true)} aria-haspopup="dialog">
          {conv.kind === 'group' ? 'Members' : 'Details'}
        </button>
      </header>
      {c.loaded && c.oldest !== null ? (
        <MessageList c={c} actions={{ reply: (m) => (setEditing(null), setReplyTo(m)), edit: (m) => (setReplyTo(null), setEditing(m)) }} />
      ) : (
        <div class="messages loading" role="status">
          Loading…
        </div>
      )}
      <div class="typing" aria-live="polite" data-testid="typing">
        {typers.length > 0 && `${typers.join(', ')} ${typers.length > 1 ? 'are' : 'is'} typing…`}
      </div>
      <Composer c={c} replyTo={replyTo} editing={editing} clear={() => (setReplyTo(null), setEditing(null))} onEditLast={setEditing} />
      {members && <Members id={conv.id} onClose={() => setMembers(false)} />}
    </section>
  );
}

function Composer(props: {
  c: ConvState;
  replyTo: MessageView | null;
  editing: MessageView | null;
  clear: () => void;
  onEditLast: (m: MessageView) => void;
}) {
  const { c, replyTo, editing, clear } = props;
  const id = c.summary.conversation.id;
  const [text, setText] = useState('');
  const ref = useRef<HTMLTextAreaElement>(null);
  const lastTyping = useRef(0);
  const drafts = useRef(new Map<string, string>());

  useEffect(() => {
    setText(drafts.current.get(id) ?? '');
    if (matchMedia('(min-width: 721px)').matches) ref.current?.focus();
  }, [id]);
  useEffect(() => {
    if (editing) {
      setText(editing.text);
      ref.current?.focus();
    }
  }, [editing]);
  useEffect(() => {
    if (replyTo) ref.current?.focus();
  }, [replyTo]);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    el.style.height = 'auto';
    el.style.height = `${Math.min(el.scrollHeight, 200)}px`;
  }, [text]);

  function submit() {
    const value = text.trim();
    if (!value) return;
    if (editing) {
      if (value !== editing.text) {
        const mentions = store.mentionsIn(c, value);
        void store.command({ type: 'edit', conversation_id: id, seq: editing.seq, text: value, ...(mentions.length ? { mentions } : {}) }).catch(() => {});
      }
    } else {
      store.send(id, value, replyTo?.seq);
    }
    setText('');
    drafts.current.delete(id);
    clear();
  }

  function onKeyDown(e: KeyboardEvent) {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit();
    } else if (e.key === 'Escape' && (replyTo || editing)) {
      e.preventDefault();
      if (editing) setText('');
      clear();
    } else if (e.key === 'ArrowUp' && !text) {
      const mine = [...c.messages.values()].reverse().find((m) => m.sender_id === store.me?.id && !m.deleted);
      if (mine) {
        e.preventDefault();
        props.onEditLast(mine);
      }
    }
  }

  function onInput(e: Event) {
    const value = (e.target as HTMLTextAreaElement).value;
    setText(value);
    drafts.current.set(id, value);
    const now = Date.now();
    if (value && now - lastTyping.current > TYPING_EVERY_MS) {
      lastTyping.current = now;
      store.typing(id);
    }
  }

  const context = editing ? 'Editing message' : replyTo ? `Replying to ${store.displayName(replyTo.sender_id)}: ${replyTo.text.slice(0, 80)}` : '';
  return (
    <form
      class="composer"
      onSubmit={(e) => {
        e.preventDefault();
        submit();
      }}
    >
      {context && (
        <div class="composer-context">
          <span>{context}</span>
          <button type="button" class="icon small" aria-label="Cancel" onClick={() => (editing && setText(''), clear())}>
            ✕
          </button>
        </div>
      )}
      <div class="composer-row">
        <textarea
          ref={ref}
          rows={1}
          value={text}
          maxLength={TEXT_MAX_CHARS}
          placeholder="Write a message…"
          aria-label="Message"
          onInput={onInput}
          onKeyDown={onKeyDown}
        />
        <button class="primary send" type="submit" disabled={!text.trim()} aria-label={editing ? 'Save edit' : 'Send'}>
          {editing ? 'Save' : 'Send'}
        </button>
      </div>
    </form>
  );
}
