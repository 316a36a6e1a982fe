// Wire types of natter's REST API and WebSocket protocol. Ids are UUID strings, message ids
// decimal strings, times Unix milliseconds.
//
// The REST bodies are generated from the OpenAPI document the server serves into wire.gen.ts
// (scripts/wire-types.mjs; tests/wire-types.test.mjs fails when the two differ), and exported
// from here under the same names, with the aliases the app used before (NotificationSettings...).
// The WebSocket frames, which the document does not describe, are written here after
// natter-protocol's ws.rs and docs/protocol.md, out of the generated types they carry.

import type {
  ConversationSummaryView,
  ConversationView,
  ErrorBody,
  MemberRole,
  MemberView,
  MessageView,
  NotificationSettingsBody,
  NotifyLevelView,
  PreviewView,
  QuietHoursView,
  UserView,
  Uuid,
  WebPushSubscription,
} from './wire.gen';

// Every schema of the document.
export type * from './wire.gen';

/** A member's role, `MemberView.role`. */
export type Role = MemberRole;

export interface HelloOk {
  user_id: Uuid;
  session_id: Uuid;
  idle_timeout_ms: number;
  sync_cursor: number;
}

/**
 * What an `ack` carries, by the command it answers (docs/protocol.md, *ack*; natter-protocol's
 * `Ack`): one result under a key naming its kind, or nothing. `Session.request` checks the ack
 * against this table, so callers get the typed result, never a bag of optional fields.
 */
export interface Acks {
  hello: { hello: HelloOk };
  send: { message: MessageView; duplicate?: boolean };
  edit: { message: MessageView };
  delete: { message: MessageView };
  react: { message: MessageView };
  unreact: { message: MessageView };
  read: { member: MemberView };
  delivered: { member: MemberView };
  history: { messages: MessageView[] };
  typing: Record<string, never>;
  ping: Record<string, never>;
}

/** The result keys an ack may carry. */
export type AckKey = 'hello' | 'message' | 'member' | 'messages';

/** Which key holds each command's result (`null`: the ack carries none). */
export const ACK_KEY: { readonly [C in keyof Acks]: AckKey | null } = {
  hello: 'hello',
  send: 'message',
  edit: 'message',
  delete: 'message',
  react: 'message',
  unreact: 'message',
  read: 'member',
  delivered: 'member',
  history: 'messages',
  typing: null,
  ping: null,
};

/** The ack of command `C`. */
export type AckOf<C extends { type: keyof Acks }> = Acks[C['type']];

/** An ack as it arrives, before it is checked against the command it answers. */
type AckWire = { hello?: HelloOk; message?: MessageView; member?: MemberView; messages?: MessageView[]; duplicate?: boolean };

/** Cursors: conversation id -> highest mod_seq the app has. */
export type Cursors = Record<Uuid, number>;

type WithId<T> = T & { id: string };

export type ClientFrame =
  | WithId<{ type: 'hello'; token: string; sync_cursor?: number; cursors?: Cursors }>
  | WithId<{
      type: 'send';
      conversation_id: Uuid;
      client_msg_id: string;
      text: string;
      reply_to_seq?: number;
      mentions?: Uuid[];
      /** Ids of complete files of the sender's, at most 10. */
      attachments?: Uuid[];
    }>
  | WithId<{ type: 'edit'; conversation_id: Uuid; seq: number; text: string; mentions?: Uuid[] }>
  | WithId<{ type: 'delete'; conversation_id: Uuid; seq: number }>
  | WithId<{ type: 'react' | 'unreact'; conversation_id: Uuid; seq: number; emoji: string }>
  | WithId<{ type: 'read' | 'delivered'; conversation_id: Uuid; seq: number }>
  | WithId<{ type: 'typing'; conversation_id: Uuid }>
  | WithId<{ type: 'history'; conversation_id: Uuid; before?: number; after?: number; limit?: number }>
  | WithId<{ type: 'ping' }>;

/** A client frame before the session gives it a request id. */
export type Command = ClientFrame extends infer F ? (F extends { id: string } ? Omit<F, 'id'> : never) : never;

export type EventFrame =
  | { type: 'message.new'; message: MessageView }
  | { type: 'message.updated'; message: MessageView }
  | { type: 'conversation'; summary: ConversationSummaryView }
  | { type: 'conversation.updated'; conversation: ConversationView }
  | { type: 'conversation.removed'; conversation_id: Uuid }
  | { type: 'member.added'; conversation: ConversationView; member: MemberView; by: Uuid }
  | { type: 'member.removed'; conversation_id: Uuid; user_id: Uuid; by: Uuid }
  | { type: 'member.updated'; member: MemberView }
  | { type: 'receipt'; conversation_id: Uuid; user_id: Uuid; read_seq: number; delivered_seq: number }
  | { type: 'typing'; conversation_id: Uuid; user_id: Uuid; expires_in_ms: number }
  | { type: 'presence'; user_id: Uuid; online: boolean; last_seen_ms?: number }
  | { type: 'user.updated'; user: UserView }
  | ({ type: 'error'; id?: undefined } & ErrorBody);

export type ServerFrame =
  | ({ type: 'ack'; id: string } & AckWire)
  | ({ type: 'error'; id?: string } & ErrorBody)
  | { type: 'pong'; id: string }
  | EventFrame;

// --- push (docs/push.md) ---

/** A browser's `PushSubscription.toJSON()`, as `POST /push/devices` takes it. */
export type WebPushSubscriptionJson = WebPushSubscription;

export type NotifyLevel = NotifyLevelView;
export type PreviewLevel = PreviewView;
export type QuietHours = QuietHoursView;
export type NotificationSettings = NotificationSettingsBody;

// --- search ---

/**
 * The query of `GET /search/messages`. Query parameters are not among the document's schemas,
 * so this one is written by hand.
 */
export interface MessageSearchParams {
  q: string;
  conversation_id?: Uuid;
  from?: Uuid;
  before_ms?: number;
  after_ms?: number;
  has_attachment?: boolean;
  order?: 'newest' | 'relevance';
  cursor?: string;
  limit?: number;
}
