// Messages the user sent that the server has not acknowledged yet, persisted in localStorage so
// they survive a reload and an offline spell. Sent one at a time, in order, whenever the session
// is connected; each keeps its client_msg_id for life, so a retry after a drop (or a second tab
// pumping the same outbox) can never create a second message.
//
// A message with attachments waits in line (and holds back the messages after it, so the order
// stays) until every one of its uploads is complete; each attachment then carries its file id.
// The uploads live in the tab that started them: another tab waits for that tab, and the tab
// itself, reloaded, marks the message failed (the bytes are gone), to be discarded.
import { OUTBOX_MAX, OUTBOX_SEND_TIMEOUT_MS } from './limits';
import { CommandError, type Session } from './session';
import type { MessageView, Uuid } from './types';
import type { Upload } from './upload';

/** A file of an unsent message: its file id once its upload is complete. */
export interface OutboxAttachment {
  /** Names the upload in the tab that runs it. */
  key: string;
  name: string;
  size: number;
  file_id?: Uuid;
}

export interface OutboxItem {
  client_msg_id: string;
  conversation_id: Uuid;
  text: string;
  reply_to_seq?: number;
  mentions?: Uuid[];
  attachments?: OutboxAttachment[];
  /** The tab (`sessionStorage`) running the uploads of its attachments. */
  tab?: string;
  created_at_ms: number;
  /** Set when the server refused it for good (shown with retry / discard). */
  error?: string;
}

export function newClientMsgId(): string {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return 'w-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** This tab's id: survives a reload of the tab, differs between tabs. */
function tabId(): string {
  let id = sessionStorage.getItem('natter.tab');
  if (!id) {
    id = newClientMsgId();
    sessionStorage.setItem('natter.tab', id);
  }
  return id;
}

export class Outbox {
  private items: OutboxItem[];
  private pumping = false;
  private readonly tab = tabId();
  /** Uploads of this tab's unsent attachments, by key. */
  private readonly uploads = new Map<string, Upload>();
  private listeners = new Set<() => void>();
  /** Called with the server's message when an item is acknowledged. */
  onSent: (message: MessageView) => void = () => {};

  constructor(
    private readonly session: Session,
    private readonly key: string,
  ) {
    this.items = this.load();
    session.onState((state) => {
      if (state === 'connected') void this.pump();
    });
    // Another tab changed the same outbox.
    window.addEventListener('storage', (event) => {
      if (event.key === this.key) {
        this.items = this.load();
        this.emit();
      }
    });
    if (session.state === 'connected') void this.pump();
  }

  list(conversationId?: Uuid): OutboxItem[] {
    return conversationId ? this.items.filter((i) => i.conversation_id === conversationId) : [...this.items];
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Queues a message; with `uploads` (in progress or complete) it is sent once all are complete. */
  add(item: Omit<OutboxItem, 'client_msg_id' | 'created_at_ms' | 'attachments' | 'tab'>, uploads: Upload[] = []): OutboxItem {
    if (this.items.length >= OUTBOX_MAX) throw new Error('too many unsent messages');
    const full: OutboxItem = { ...item, client_msg_id: newClientMsgId(), created_at_ms: Date.now() };
    if (uploads.length) {
      full.tab = this.tab;
      full.attachments = uploads.map((upload) => {
        const key = newClientMsgId();
        this.uploads.set(key, upload);
        void upload.done.then(
          (fileId) => this.uploaded(full.client_msg_id, key, fileId),
          () => void this.pump(),
        );
        return { key, name: upload.name, size: upload.total, ...(upload.state === 'done' && upload.id ? { file_id: upload.id } : {}) };
      });
    }
    this.items.push(full);
    this.save();
    void this.pump();
    return full;
  }

  /** The upload of an unsent attachment, when this tab runs it. */
  upload(key: string): Upload | undefined {
    return this.uploads.get(key);
  }

  retry(clientMsgId: string): void {
    const item = this.items.find((i) => i.client_msg_id === clientMsgId);
    if (!item) return;
    delete item.error;
    this.save();
    void this.pump();
  }

  discard(clientMsgId: string): void {
    for (const a of this.items.find((i) => i.client_msg_id === clientMsgId)?.attachments ?? []) {
      this.uploads.get(a.key)?.cancel();
      this.uploads.delete(a.key);
    }
    this.items = this.items.filter((i) => i.client_msg_id !== clientMsgId);
    this.save();
    void this.pump();
  }

  private uploaded(clientMsgId: string, key: string, fileId: Uuid): void {
    this.items = this.load();
    const attachment = this.items.find((i) => i.client_msg_id === clientMsgId)?.attachments?.find((a) => a.key === key);
    if (attachment) attachment.file_id = fileId;
    this.save();
    void this.pump();
  }

  /**
   * Whether `item` can be sent now: `true`, `'wait'` (an upload is running, here or in the tab
   * that owns it), or the reason it never can (an upload failed or was lost).
   */
  private ready(item: OutboxItem): true | 'wait' | string {
    for (const a of item.attachments ?? []) {
      if (a.file_id) continue;
      const upload = this.uploads.get(a.key);
      if (upload?.state === 'uploading' || (!upload && item.tab !== this.tab)) return 'wait';
      if (upload?.state === 'done') continue;
      return upload?.error ? `${a.name}: ${upload.error}` : `the upload of ${a.name} was interrupted`;
    }
    return true;
  }

  /** Sends queued items in order while connected. */
  async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (;;) {
        if (this.session.state !== 'connected') return;
        const item = this.items.find((i) => !i.error);
        if (!item) return;
        const ready = this.ready(item);
        if (ready === 'wait') return;
        if (ready !== true) {
          item.error = ready;
          this.save();
          continue;
        }
        const fileIds = item.attachments?.map((a) => a.file_id ?? this.uploads.get(a.key)?.id ?? '') ?? [];
        try {
          const ack = await this.session.request(
            {
              type: 'send',
              conversation_id: item.conversation_id,
              client_msg_id: item.client_msg_id,
              text: item.text,
              ...(item.reply_to_seq !== undefined ? { reply_to_seq: item.reply_to_seq } : {}),
              ...(item.mentions?.length ? { mentions: item.mentions } : {}),
              ...(fileIds.length ? { attachments: fileIds } : {}),
            },
            OUTBOX_SEND_TIMEOUT_MS,
          );
          this.items = this.load().filter((i) => i.client_msg_id !== item.client_msg_id);
          for (const a of item.attachments ?? []) this.uploads.delete(a.key);
          this.save();
          this.onSent(ack.message);
        } catch (error) {
          if (error instanceof CommandError) {
            if (error.code === 'rate_limited') {
              await new Promise((r) => setTimeout(r, error.body.retry_after_ms ?? 1000));
              continue;
            }
            if (error.code !== 'unavailable' && error.code !== 'internal') {
              item.error = error.message;
              this.save();
              continue;
            }
          }
          // Timeout or closed: keep it; the next 'connected' pumps again.
          if (this.session.state === 'connected') await new Promise((r) => setTimeout(r, 1000));
          else return;
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  private load(): OutboxItem[] {
    try {
      const raw = localStorage.getItem(this.key);
      return raw ? (JSON.parse(raw) as OutboxItem[]) : [];
    } catch {
      return [];
    }
  }

  private save(): void {
    localStorage.setItem(this.key, JSON.stringify(this.items));
    this.emit();
  }

  private emit(): void {
    for (const listener of this.listeners) listener();
  }
}
