// Messages the user sent that the server has not acknowledged yet, persisted in localStorage so
// they survive a reload and an offline spell. Sent one at a time, in order, whenever the session
// is connected; each keeps its client_msg_id for life, so a retry after a drop (or a second tab
// pumping the same outbox) can never create a second message.
import { OUTBOX_MAX, OUTBOX_SEND_TIMEOUT_MS } from './limits';
import { CommandError, type Session } from './session';
import type { MessageView, Uuid } from './types';

export interface OutboxItem {
  client_msg_id: string;
  conversation_id: Uuid;
  text: string;
  reply_to_seq?: number;
  mentions?: Uuid[];
  created_at_ms: number;
  /** Set when the server refused it for good (shown with retry / discard). */
  error?: string;
}

export function newClientMsgId(): string {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return 'w-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export class Outbox {
  private items: OutboxItem[];
  private pumping = false;
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

  add(item: Omit<OutboxItem, 'client_msg_id' | 'created_at_ms'>): OutboxItem {
    if (this.items.length >= OUTBOX_MAX) throw new Error('too many unsent messages');
    const full: OutboxItem = { ...item, client_msg_id: newClientMsgId(), created_at_ms: Date.now() };
    this.items.push(full);
    this.save();
    void this.pump();
    return full;
  }

  retry(clientMsgId: string): void {
    const item = this.items.find((i) => i.client_msg_id === clientMsgId);
    if (!item) return;
    delete item.error;
    this.save();
    void this.pump();
  }

  discard(clientMsgId: string): void {
    this.items = this.items.filter((i) => i.client_msg_id !== clientMsgId);
    this.save();
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
        try {
          const ack = await this.session.request(
            {
              type: 'send',
              conversation_id: item.conversation_id,
              client_msg_id: item.client_msg_id,
              text: item.text,
              ...(item.reply_to_seq !== undefined ? { reply_to_seq: item.reply_to_seq } : {}),
              ...(item.mentions?.length ? { mentions: item.mentions } : {}),
            },
            OUTBOX_SEND_TIMEOUT_MS,
          );
          this.items = this.load().filter((i) => i.client_msg_id !== item.client_msg_id);
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
