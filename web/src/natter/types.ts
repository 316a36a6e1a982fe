// Wire types of natter's REST API and WebSocket protocol, mirroring
// crates/natter-protocol/src/{rest.rs,ws.rs}. Ids are UUID strings, message ids decimal strings,
// times Unix milliseconds.

export type Uuid = string;

export interface UserView {
  id: Uuid;
  username: string;
  display_name: string;
  created_at_ms: number;
  online?: boolean;
  last_seen_ms?: number;
}

export interface AuthTokens {
  user: UserView;
  session_id: Uuid;
  access_token: string;
  expires_in_s: number;
  refresh_token: string;
}

export interface ConversationView {
  id: Uuid;
  kind: 'direct' | 'group';
  name?: string;
  topic?: string;
  created_by: Uuid;
  created_at_ms: number;
  last_seq: number;
  last_mod: number;
  last_activity_ms: number;
  member_count: number;
}

export type Role = 'owner' | 'admin' | 'member';

export interface MemberView {
  conversation_id: Uuid;
  user_id: Uuid;
  role: Role;
  muted: boolean;
  read_seq: number;
  delivered_seq: number;
  joined_at_ms: number;
}

export interface ReactionView {
  emoji: string;
  user_ids: Uuid[];
}

export interface MessageView {
  id: string;
  conversation_id: Uuid;
  seq: number;
  mod_seq: number;
  sender_id: Uuid;
  client_msg_id: string;
  text: string;
  reply_to_seq?: number;
  mentions?: Uuid[];
  created_at_ms: number;
  edited_at_ms?: number;
  deleted?: boolean;
  reactions?: ReactionView[];
  /** The files the message shows, in order (absent when none, and once deleted). */
  attachments?: FileView[];
}

/** A smaller rendering of an image: `small` fits in 320x320, `large` in 1280x1280. */
export interface ThumbnailView {
  size: 'small' | 'large';
  width: number;
  height: number;
  mime: string;
  /** Signed like the file's `url`, with the same expiry. */
  url: string;
}

/** A complete file (`GET /files/{id}`, and each of a message's `attachments`). */
export interface FileView {
  id: Uuid;
  name: string;
  /** Bytes a download returns. */
  size: number;
  /** Decided by the server from the bytes. */
  mime: string;
  sha256: string;
  /** True when browsers may show it in place (a safe image, video or audio type). */
  inline: boolean;
  created_at_ms: number;
  width?: number;
  height?: number;
  duration_ms?: number;
  /** ThumbHash bytes, base64 (standard alphabet). */
  thumbhash?: string;
  thumbnails?: ThumbnailView[];
  /** Signed download URL relative to the origin, valid until `url_expires_at_ms`. */
  url: string;
  url_expires_at_ms: number;
}

/** A tus upload as `POST /files/uploads` answers it; its id becomes the file's once complete. */
export interface UploadView {
  id: Uuid;
  /** `HEAD` for the offset, `PATCH` to append, `DELETE` to cancel (relative to the origin). */
  upload_url: string;
  name: string;
  size: number;
  offset: number;
  expires_at_ms: number;
}

export interface ConversationSummaryView {
  conversation: ConversationView;
  me: MemberView;
  last_message?: MessageView;
  unread_count: number;
  mention_count: number;
  peer?: Uuid;
}

export interface SyncView {
  changed: ConversationSummaryView[];
  removed: Uuid[];
  cursor: number;
}

export interface ErrorBody {
  code: string;
  message: string;
  retry_after_ms?: number;
}

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

export interface ConversationList {
  conversations: ConversationSummaryView[];
}

// --- push (docs/push.md) ---

/** A browser's `PushSubscription.toJSON()`, as `POST /push/devices` takes it. */
export interface WebPushSubscriptionJson {
  endpoint: string;
  expirationTime?: number | null;
  keys: { p256dh: string; auth: string };
}

export type RegisterDeviceRequest =
  | { kind: 'fcm'; token: string }
  | { kind: 'apns'; token: string; topic: string; environment: 'sandbox' | 'production' }
  | { kind: 'web_push'; subscription: WebPushSubscriptionJson };

export interface DeviceView {
  id: Uuid;
  /** `fcm`, `apns` or `web_push`. */
  kind: string;
  session_id: Uuid;
  /** Registered by the session making the request. */
  current: boolean;
  /** The end of a token or the push service's host, never the address. */
  hint: string;
  created_at_ms: number;
}

export type NotifyLevel = 'all' | 'mentions_and_direct' | 'nothing';
export type PreviewLevel = 'full' | 'sender_only' | 'hidden';

export interface QuietHours {
  /** `HH:MM`, local to `time_zone`. */
  start: string;
  end: string;
  /** IANA name, e.g. `Europe/Paris`. */
  time_zone: string;
}

export interface NotificationSettings {
  level: NotifyLevel;
  preview: PreviewLevel;
  quiet_hours: QuietHours | null;
}

/** `GET /search/messages`: a piece of a hit's snippet; the pieces in order are the shown text. */
export interface SnippetPartView {
  text: string;
  /** A word the query matched (to highlight). */
  hit: boolean;
}

export interface MessageHitView {
  message: MessageView;
  snippet: SnippetPartView[];
}

export interface MessageSearchPage {
  hits: MessageHitView[];
  /** Absent on the last page; a page may hold fewer hits than asked and still have a next one. */
  next_cursor?: string;
}

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
