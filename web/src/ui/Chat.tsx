import { useEffect, useRef, useState } from 'preact/hooks';
import { draftOf, keepDraft } from './drafts';
import type { MessageView } from '../natter';
import { ATTACHMENTS_MAX, TEXT_MAX_CHARS } from '../natter/limits';
import { previewText, typers } from '../state/select';
import { store, useSelector, type ConvState } from '../store';
import { Avatar, presenceLabel } from './common';
import { navigate } from '../router';
import { Members } from './Dialogs';
import { FileChips } from './FileChips';
import { MessageList } from './MessageList';
import { addFiles, removeFile, takeFiles, usePendingFiles } from './pendingFiles';
import { EmojiPicker } from './EmojiPicker';
import { insertMention, mentionAt, mentionCandidates } from './mentions';
import { VoiceRecorder } from './VoiceRecorder';
import type { UserView } from '../natter';

const TYPING_EVERY_MS = 3000;
/** The character counter shows from this many characters left. */
const COUNTER_FROM = 200;

export function Chat({ id }: { id: string }) {
  const c = useSelector((s) => s.convs.get(id));
  // The peer's name and presence in the header.
  useSelector((s) => (c?.summary.peer ? s.users.get(c.summary.peer) : undefined));
  return c ? <ChatView c={c} /> : null;
}

function ChatView({ c }: { c: ConvState }) {
  const s = store;
  const offline = useSelector((st) => st.browserOffline || st.connection === 'offline');
  const [members, setMembers] = useState(false);
  const [replyTo, setReplyTo] = useState<MessageView | null>(null);
  const [editing, setEditing] = useState<MessageView | null>(null);
  const conv = c.summary.conversation;
  const title = s.title(c);
  const peer = c.summary.peer ? s.user(c.summary.peer) : undefined;
  const subtitle = conv.kind === 'direct' ? presenceLabel(peer) : `${conv.member_count} members${conv.topic ? ` · ${conv.topic}` : ''}`;
  const [dragging, setDragging] = useState(false);
  const [notice, setNotice] = useState('');
  const attach = (files: File[]) => {
    const left = addFiles(conv.id, files);
    setNotice(left ? `At most ${ATTACHMENTS_MAX} files per message: ${left} not added.` : '');
  };

  useEffect(() => {
    setReplyTo(null);
    setEditing(null);
  }, [conv.id]);

  return (
    <section
      class={dragging ? 'chat dragging' : 'chat'}
      aria-label={`Conversation with ${title}`}
      onDragOver={(e) => {
        if (!e.dataTransfer?.types.includes('Files')) return;
        e.preventDefault();
        setDragging(true);
      }}
      onDragLeave={(e) => {
        if (!(e.currentTarget as HTMLElement).contains(e.relatedTarget as Node | null)) setDragging(false);
      }}
      onDrop={(e) => {
        if (!e.dataTransfer?.files.length) return;
        e.preventDefault();
        setDragging(false);
        attach([...e.dataTransfer.files]);
      }}
    >
      <header class="chat-head">
        <button class="icon back" aria-label="Back to conversations" onClick={() => navigate(null)}>
          ←
        </button>
        <Avatar id={peer ? peer.id : conv.id} name={title} user={conv.kind === 'direct' ? peer : undefined} online={conv.kind === 'direct' ? peer?.online : undefined} />
        <div class="grow">
          <h2 class="chat-title">{title}</h2>
          <div class="muted small-text">{subtitle}</div>
        </div>
        <button class="small" onClick={() => setMembers(true)} aria-haspopup="dialog">
          {conv.kind === 'group' ? 'Members' : 'Details'}
        </button>
      </header>
      {c.loaded && c.oldest !== null ? (
        <MessageList
          c={c}
          actions={{
            reply: (m) => (setEditing(null), setReplyTo(m)),
            edit: (m) => (setReplyTo(null), setEditing(m)),
            compose: () => document.querySelector<HTMLTextAreaElement>('.composer textarea')?.focus(),
          }}
        />
      ) : (
        <div class="messages loading" role="status">
          {offline ? 'Not saved on this device: it loads when you are back online.' : 'Loading…'}
        </div>
      )}
      <TypingLine id={conv.id} />
      <Composer
        c={c}
        replyTo={replyTo}
        editing={editing}
        clear={() => (setReplyTo(null), setEditing(null))}
        onEditLast={setEditing}
        attach={attach}
        notice={notice}
      />
      {members && <Members id={conv.id} onClose={() => setMembers(false)} />}
    </section>
  );
}

/** Who is typing: its own subscriber, so a typing event re-renders this line only. */
function TypingLine({ id }: { id: string }) {
  useSelector((s) => s.typing.get(id));
  const names = typers(store.state, id, Date.now()).map((u) => store.displayName(u));
  return (
    <div class="typing" aria-live="polite" data-testid="typing">
      {names.length > 0 && `${names.join(', ')} ${names.length > 1 ? 'are' : 'is'} typing…`}
    </div>
  );
}

function Composer(props: {
  c: ConvState;
  replyTo: MessageView | null;
  editing: MessageView | null;
  clear: () => void;
  onEditLast: (m: MessageView) => void;
  attach: (files: File[]) => void;
  notice: string;
}) {
  const { c, replyTo, editing, clear } = props;
  const id = c.summary.conversation.id;
  const me = store.me?.id ?? '';
  // The draft from the first render: an effect would show an empty composer for a frame.
  const [text, setText] = useState(() => draftOf(me, id));
  const ref = useRef<HTMLTextAreaElement>(null);
  const picker = useRef<HTMLInputElement>(null);
  const files = usePendingFiles(id);
  const filesOk = !files.some((u) => u.state === 'failed' || u.state === 'cancelled');
  const left = TEXT_MAX_CHARS - [...text].length;
  const canSend = left >= 0 && (editing ? !!text.trim() : (!!text.trim() || files.length > 0) && filesOk);
  const lastTyping = useRef(0);
  const [emoji, setEmoji] = useState(false);
  // @mention autocomplete: the @word at the caret and the highlighted choice.
  const [mention, setMention] = useState<{ start: number; caret: number; options: UserView[]; index: number } | null>(null);

  function findMention(el: HTMLTextAreaElement) {
    const at = el.selectionStart === el.selectionEnd ? mentionAt(el.value, el.selectionStart) : null;
    const members = (c.members ?? []).map((m) => store.users.get(m.user_id)).filter((u): u is UserView => !!u && u.id !== me);
    const options = at ? mentionCandidates(members, at.query) : [];
    // A name typed in full needs no list: Enter sends.
    const complete = options.length === 1 && options[0].username.toLowerCase() === at?.query.toLowerCase();
    setMention(at && options.length && !complete ? { start: at.start, caret: el.selectionStart, options, index: 0 } : null);
  }

  function pickMention(u: UserView) {
    const el = ref.current;
    if (!el || !mention) return;
    const next = insertMention(text, mention.start, mention.caret, u.username);
    // Written into the field at once, caret included: keys typed right after land after it.
    el.value = next.text;
    el.focus();
    el.setSelectionRange(next.caret, next.caret);
    setText(next.text);
    if (!editing) keepDraft(me, id, next.text);
    setMention(null);
  }

  function insertEmoji(e: string) {
    const el = ref.current;
    const at = el ? el.selectionStart : text.length;
    const end = el ? el.selectionEnd : text.length;
    const value = text.slice(0, at) + e + text.slice(end);
    if (el) {
      el.value = value;
      el.focus();
      el.setSelectionRange(at + e.length, at + e.length);
    }
    setText(value);
    if (!editing) keepDraft(me, id, value);
    setEmoji(false);
  }

  useEffect(() => {
    setText(draftOf(me, id));
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
    if (!canSend) return;
    if (editing) {
      if (value !== editing.text) {
        const mentions = store.mentionsIn(c, value);
        void store.command({ type: 'edit', conversation_id: id, seq: editing.seq, text: value, ...(mentions.length ? { mentions } : {}) }).catch(() => {});
      }
    } else {
      store.send(id, value, replyTo?.seq, takeFiles(id));
    }
    if (editing) {
      // Back to what was being written before the edit.
      setText(draftOf(me, id));
    } else {
      setText('');
      keepDraft(me, id, '');
    }
    clear();
  }

  function onKeyDown(e: KeyboardEvent) {
    if (mention) {
      const n = mention.options.length;
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        setMention({ ...mention, index: (mention.index + (e.key === 'ArrowDown' ? 1 : n - 1)) % n });
        return;
      }
      if ((e.key === 'Enter' || e.key === 'Tab') && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        pickMention(mention.options[mention.index]);
        return;
      }
      if (e.key === 'Escape') {
        e.preventDefault();
        setMention(null);
        return;
      }
    }
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit();
    } else if (e.key === 'Escape' && (replyTo || editing)) {
      e.preventDefault();
      if (editing) setText(draftOf(me, id));
      clear();
    } else if (e.key === 'ArrowUp' && !text) {
      const mine = [...c.messages.values()].reverse().find((m) => m.sender_id === store.me?.id && !m.deleted);
      if (mine) {
        e.preventDefault();
        props.onEditLast(mine);
      }
    }
  }

  function onPaste(e: ClipboardEvent) {
    const pasted = [...(e.clipboardData?.files ?? [])];
    if (!pasted.length || editing) return;
    e.preventDefault();
    props.attach(pasted);
  }

  function onInput(e: Event) {
    const el = e.target as HTMLTextAreaElement;
    const value = el.value;
    setText(value);
    findMention(el);
    if (!editing) keepDraft(me, id, value);
    const now = Date.now();
    if (value && now - lastTyping.current > TYPING_EVERY_MS) {
      lastTyping.current = now;
      store.typing(id);
    }
  }

  const context = editing ? 'Editing message' : replyTo ? `Replying to ${store.displayName(replyTo.sender_id)}: ${previewText(replyTo).slice(0, 80)}` : '';
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
          <button type="button" class="icon small" aria-label="Cancel" onClick={() => (editing && setText(draftOf(me, id)), clear())}>
            ✕
          </button>
        </div>
      )}
      {!editing && <FileChips uploads={files} onRemove={(u) => removeFile(id, u)} />}
      {props.notice && (
        <div class="composer-notice" role="status">
          {props.notice}
        </div>
      )}
      <div class="composer-row">
        {!editing && (
          <>
            <input
              ref={picker}
              type="file"
              multiple
              hidden
              onChange={(e) => {
                const input = e.target as HTMLInputElement;
                props.attach([...(input.files ?? [])]);
                input.value = '';
              }}
            />
            <button type="button" class="icon attach" aria-label="Attach files" onClick={() => picker.current?.click()}>
              <svg width="20" height="20" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">
                <path d="M21 12.5l-8.5 8.5a5.5 5.5 0 0 1-7.8-7.8l9-9a3.7 3.7 0 0 1 5.2 5.2l-9 9a1.8 1.8 0 0 1-2.6-2.6l8.3-8.3" />
              </svg>
            </button>
            <VoiceRecorder key={id} onRecorded={(file) => props.attach([file])} />
          </>
        )}
        {mention && (
          <ul class="mention-list" id="mention-list" role="listbox" aria-label="Mention someone">
            {mention.options.map((u, i) => (
              <li
                key={u.id}
                id={`mention-${u.id}`}
                role="option"
                aria-selected={i === mention.index}
                onPointerDown={(e) => (e.preventDefault(), pickMention(u))}
              >
                <strong>{u.display_name || u.username}</strong> <span class="muted">@{u.username}</span>
              </li>
            ))}
          </ul>
        )}
        <textarea
          ref={ref}
          rows={1}
          value={text}
          placeholder="Write a message…"
          aria-label="Message"
          aria-autocomplete="list"
          aria-controls={mention ? 'mention-list' : undefined}
          aria-activedescendant={mention ? `mention-${mention.options[mention.index].id}` : undefined}
          aria-invalid={left < 0}
          aria-describedby={left <= COUNTER_FROM ? 'composer-counter' : undefined}
          onInput={onInput}
          onKeyDown={onKeyDown}
          onKeyUp={(e) => (e.key === 'ArrowLeft' || e.key === 'ArrowRight' || e.key === 'Home' || e.key === 'End') && findMention(e.currentTarget as HTMLTextAreaElement)}
          onClick={(e) => findMention(e.currentTarget as HTMLTextAreaElement)}
          onBlur={() => setMention(null)}
          onPaste={onPaste}
        />
        <button type="button" class="icon" aria-label="Insert emoji" aria-haspopup="dialog" aria-expanded={emoji} onClick={() => setEmoji(!emoji)}>
          <svg width="20" height="20" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" aria-hidden="true">
            <path d="M12 21a9 9 0 1 1 0-18 9 9 0 0 1 0 18zM8.5 14.5s1.2 1.5 3.5 1.5 3.5-1.5 3.5-1.5M9 9.5h.01M15 9.5h.01" />
          </svg>
        </button>
        {emoji && <EmojiPicker label="Insert an emoji" onPick={insertEmoji} onClose={() => setEmoji(false)} />}
        {left <= COUNTER_FROM && (
          <span id="composer-counter" class={left < 0 ? 'counter over' : 'counter'} aria-live="polite">
            {left < 0 ? `${-left} too many` : `${left} left`}
          </span>
        )}
        <button class="primary send" type="submit" disabled={!canSend} aria-label={editing ? 'Save edit' : 'Send'}>
          {editing ? 'Save' : 'Send'}
        </button>
      </div>
    </form>
  );
}
