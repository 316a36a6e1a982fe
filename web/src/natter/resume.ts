// Cursor bookkeeping for gap-free resume and exactly-once events (mirrors natter-sdk's
// resume.rs). One integer per conversation, "the highest mod_seq handed to the app", both asks
// for exactly what was missed on reconnect (hello.cursors) and drops anything at or below it.
// Only events advance a cursor, never acks: an ack can overtake another member's earlier event.
import type { ClientFrame, Cursors, EventFrame, HelloOk, Uuid } from './types';

export class ResumeState {
  syncCursor: number | undefined;
  cursors = new Map<Uuid, number>();
  userId: Uuid | undefined;
  duplicatesDropped = 0;
  gapsSeen = 0;
  /** Between a hello and its ack: superseded mod_seqs are skipped by design. */
  private replaying = false;

  hello(id: string, token: string): ClientFrame {
    const frame: ClientFrame = { type: 'hello', id, token };
    if (this.syncCursor !== undefined) frame.sync_cursor = this.syncCursor;
    if (this.cursors.size > 0) frame.cursors = Object.fromEntries(this.cursors) as Cursors;
    return frame;
  }

  beginReplay(): void {
    this.replaying = true;
  }

  onHelloOk(ok: HelloOk): void {
    this.replaying = false;
    this.syncCursor = ok.sync_cursor;
    this.userId = ok.user_id;
  }

  /** The app already has `conversationId` up to `modSeq`. Cursors only move forward. */
  track(conversationId: Uuid, modSeq: number): void {
    const cursor = this.cursors.get(conversationId);
    this.cursors.set(conversationId, cursor === undefined ? modSeq : Math.max(cursor, modSeq));
  }

  forget(conversationId: Uuid): void {
    this.cursors.delete(conversationId);
  }

  /** Whether an event reaches the app; false means "already delivered, drop it". */
  admit(frame: EventFrame): boolean {
    switch (frame.type) {
      case 'message.new':
      case 'message.updated':
        return this.admitChange(frame.message.conversation_id, frame.message.mod_seq);
      case 'conversation':
        // Only seeds: moving an existing cursor could skip replayed messages that follow.
        if (!this.cursors.has(frame.summary.conversation.id)) {
          this.cursors.set(frame.summary.conversation.id, frame.summary.conversation.last_mod);
        }
        return true;
      case 'member.added':
        if (frame.member.user_id === this.userId && !this.cursors.has(frame.conversation.id)) {
          this.cursors.set(frame.conversation.id, frame.conversation.last_mod);
        }
        return true;
      case 'member.removed':
        if (frame.user_id === this.userId) this.forget(frame.conversation_id);
        return true;
      case 'conversation.removed':
        this.forget(frame.conversation_id);
        return true;
      default:
        return true;
    }
  }

  private admitChange(conversationId: Uuid, modSeq: number): boolean {
    const cursor = this.cursors.get(conversationId);
    if (cursor !== undefined && modSeq <= cursor) {
      this.duplicatesDropped += 1;
      return false;
    }
    if (cursor !== undefined && modSeq > cursor + 1 && !this.replaying) this.gapsSeen += 1;
    this.cursors.set(conversationId, modSeq);
    return true;
  }
}
