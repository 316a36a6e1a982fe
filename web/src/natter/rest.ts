// REST client for /api/v1 with token storage and one automatic, serialised refresh on 401
// (mirrors natter-sdk's rest.rs). Refresh tokens are single-use and presenting a spent one
// revokes the session, so refreshes are serialised within the tab (a promise) and across tabs
// (the Web Locks API, re-reading the shared tokens once the lock is held).
import type {
  AddMemberRequest,
  AuthTokens,
  ConversationList,
  ConversationSummaryView,
  ConversationView,
  CreateDirectRequest,
  CreateGroupRequest,
  CursorRequest,
  DeviceList,
  DeviceView,
  ErrorBody,
  LoginRequest,
  MemberList,
  MemberView,
  MessagePage,
  MessageSearchPage,
  MessageSearchParams,
  MessageView,
  MuteRequest,
  FileView,
  NotificationSettings,
  RefreshRequest,
  RegisterDeviceRequest,
  RegisterRequest,
  SendMessageRequest,
  SyncView,
  UpdateConversationRequest,
  UpdateMemberRequest,
  UserList,
  UserView,
  Uuid,
  VapidPublicKey,
} from './types';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Where tokens live between page loads (shared by the tabs of one origin). */
export interface TokenStore {
  load(): AuthTokens | null;
  save(tokens: AuthTokens | null): void;
}

export const localTokenStore = (key = 'natter.auth'): TokenStore => ({
  load() {
    try {
      const raw = localStorage.getItem(key);
      return raw ? (JSON.parse(raw) as AuthTokens) : null;
    } catch {
      return null;
    }
  },
  save(tokens) {
    if (tokens) localStorage.setItem(key, JSON.stringify(tokens));
    else localStorage.removeItem(key);
  },
});

type Query = Record<string, string | number | boolean | undefined>;

export class Api {
  private tokens: AuthTokens | null;
  private refreshing: Promise<void> | null = null;
  /** Called when the session is gone for good (refresh refused, logout). */
  onSignedOut: () => void = () => {};

  constructor(
    readonly baseUrl: string = '',
    private readonly store: TokenStore = localTokenStore(),
  ) {
    this.tokens = store.load();
  }

  get currentUser(): UserView | null {
    return this.tokens?.user ?? null;
  }

  accessToken(): string | null {
    return this.tokens?.access_token ?? null;
  }

  private setTokens(tokens: AuthTokens | null): void {
    this.tokens = tokens;
    this.store.save(tokens);
  }

  /** The WebSocket URL of this server. */
  websocketUrl(): string {
    const base = new URL(this.baseUrl || location.origin, location.href);
    base.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';
    base.pathname = base.pathname.replace(/\/$/, '') + '/api/v1/ws';
    return base.toString();
  }

  /**
   * Refreshes unless the access token changed since `stale` was used (another caller, or another
   * tab, already refreshed). Serialised, so one refresh token is never presented twice.
   */
  async refreshIfStale(stale: string | null): Promise<void> {
    while (this.refreshing) await this.refreshing.catch(() => {});
    const run = async () => {
      // Another tab may have refreshed: its tokens are in the shared store.
      const shared = this.store.load();
      if (shared && shared.access_token !== this.tokens?.access_token) this.tokens = shared;
      if (this.tokens && this.tokens.access_token !== stale) return;
      const refreshToken = this.tokens?.refresh_token;
      if (!refreshToken) throw new ApiError(401, 'unauthenticated', 'signed out');
      let fresh: AuthTokens;
      try {
        fresh = await this.raw<AuthTokens>('POST', '/auth/refresh', { refresh_token: refreshToken } satisfies RefreshRequest, undefined, false);
      } catch (error) {
        if (error instanceof ApiError && error.status < 500 && error.status !== 429) {
          this.setTokens(null);
          this.onSignedOut();
        }
        throw error;
      }
      this.setTokens(fresh);
    };
    const locks = (navigator as Navigator & { locks?: LockManager }).locks;
    const task = locks ? locks.request('natter.refresh', run) : run();
    this.refreshing = task.finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async raw<T>(method: string, path: string, body?: unknown, query?: Query, auth = true): Promise<T> {
    let url = `${this.baseUrl}/api/v1${path}`;
    if (query) {
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
      const qs = params.toString();
      if (qs) url += `?${qs}`;
    }
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (auth && this.tokens) headers.authorization = `Bearer ${this.tokens.access_token}`;
    let response: Response;
    try {
      response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (error) {
      throw new ApiError(0, 'network', 'cannot reach the server');
    }
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    if (!response.ok) {
      let err: ErrorBody = { code: 'http_' + response.status, message: text.slice(0, 200) || response.statusText };
      try {
        err = JSON.parse(text) as ErrorBody;
      } catch {
        /* not JSON: keep the status */
      }
      throw new ApiError(response.status, err.code, err.message, err.retry_after_ms ?? undefined);
    }
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** An authenticated call, refreshing once on 401. */
  async call<T>(method: string, path: string, body?: unknown, query?: Query): Promise<T> {
    const used = this.accessToken();
    try {
      return await this.raw<T>(method, path, body, query);
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 401 || !this.tokens?.refresh_token) throw error;
    }
    await this.refreshIfStale(used);
    return this.raw<T>(method, path, body, query);
  }

  // --- auth ---
  async register(username: string, password: string, displayName?: string): Promise<AuthTokens> {
    const body: RegisterRequest = { username, password, device_name: 'web' };
    if (displayName) body.display_name = displayName;
    const tokens = await this.raw<AuthTokens>('POST', '/auth/register', body, undefined, false);
    this.setTokens(tokens);
    return tokens;
  }

  async login(username: string, password: string): Promise<AuthTokens> {
    const body: LoginRequest = { username, password, device_name: 'web' };
    const tokens = await this.raw<AuthTokens>('POST', '/auth/login', body, undefined, false);
    this.setTokens(tokens);
    return tokens;
  }

  async logout(): Promise<void> {
    try {
      if (this.tokens) await this.call<void>('POST', '/auth/logout');
    } finally {
      this.setTokens(null);
    }
  }

  // --- users ---
  me = () => this.call<UserView>('GET', '/users/me');
  user = (id: Uuid) => this.call<UserView>('GET', `/users/${id}`);
  searchUsers = (prefix: string, limit = 10) =>
    this.call<UserList>('GET', '/users', undefined, { prefix, limit }).then((r) => r.users);

  // --- conversations ---
  conversations = (beforeActivityMs?: number, limit = 100) =>
    this.call<ConversationList>('GET', '/conversations', undefined, { before_activity_ms: beforeActivityMs, limit }).then(
      (r) => r.conversations,
    );
  conversation = (id: Uuid) => this.call<ConversationSummaryView>('GET', `/conversations/${id}`);
  createDirect = (userId: Uuid) => this.call<ConversationSummaryView>('POST', '/conversations/direct', { user_id: userId } satisfies CreateDirectRequest);
  createGroup = (name: string, memberIds: Uuid[], topic?: string) =>
    this.call<ConversationSummaryView>('POST', '/conversations', { name, member_ids: memberIds, ...(topic ? { topic } : {}) } satisfies CreateGroupRequest);
  updateConversation = (id: Uuid, patch: { name?: string; topic?: string }) =>
    this.call<ConversationView>('PATCH', `/conversations/${id}`, patch satisfies UpdateConversationRequest);
  members = (id: Uuid) => this.call<MemberList>('GET', `/conversations/${id}/members`).then((r) => r.members);
  addMember = (id: Uuid, userId: Uuid, role?: UpdateMemberRequest['role']) =>
    this.call<MemberView>('POST', `/conversations/${id}/members`, { user_id: userId, ...(role ? { role } : {}) } satisfies AddMemberRequest);
  setRole = (id: Uuid, userId: Uuid, role: UpdateMemberRequest['role']) =>
    this.call<MemberView>('PATCH', `/conversations/${id}/members/${userId}`, { role } satisfies UpdateMemberRequest);
  removeMember = (id: Uuid, userId: Uuid) => this.call<void>('DELETE', `/conversations/${id}/members/${userId}`);
  mute = (id: Uuid, muted: boolean) => this.call<MemberView>('PUT', `/conversations/${id}/mute`, { muted } satisfies MuteRequest);

  // --- messages ---
  history = (id: Uuid, params: { before?: number; after?: number; limit?: number }) =>
    this.call<MessagePage>('GET', `/conversations/${id}/messages`, undefined, params).then((r) => r.messages);
  send = (id: Uuid, clientMsgId: string, text: string, extra: Pick<SendMessageRequest, 'reply_to_seq' | 'mentions' | 'attachments'> = {}) =>
    this.call<MessageView>('POST', `/conversations/${id}/messages`, { client_msg_id: clientMsgId, text, ...extra } satisfies SendMessageRequest);
  searchMessages = (params: MessageSearchParams) =>
    this.call<MessageSearchPage>('GET', '/search/messages', undefined, { ...params });
  read = (id: Uuid, seq: number) => this.call<MemberView>('POST', `/conversations/${id}/read`, { seq } satisfies CursorRequest);
  sync = (since?: number) => this.call<SyncView>('GET', '/sync', undefined, { since });

  // --- files ---
  /** A file's view with freshly signed URLs (its owner, or a member of a conversation showing it). */
  file = (id: Uuid) => this.call<FileView>('GET', `/files/${id}`);

  // --- push ---
  /** The VAPID key browsers subscribe with; 404 `not_found` when the server has no Web Push. */
  vapidPublicKey = () =>
    this.raw<VapidPublicKey>('GET', '/push/vapid-public-key', undefined, undefined, false).then((r) => r.public_key);
  registerDevice = (request: RegisterDeviceRequest) => this.call<DeviceView>('POST', '/push/devices', request);
  devices = () => this.call<DeviceList>('GET', '/push/devices').then((r) => r.devices);
  deleteDevice = (id: Uuid) => this.call<void>('DELETE', `/push/devices/${id}`);
  notificationSettings = () => this.call<NotificationSettings>('GET', '/users/me/notifications');
  setNotificationSettings = (settings: NotificationSettings) =>
    this.call<NotificationSettings>('PUT', '/users/me/notifications', settings);

  // --- account (the settings dialog) ---
  updateProfile = (displayName: string) =>
    this.call<UserView>('PATCH', '/users/me', { display_name: displayName } satisfies import('./types').UpdateProfileRequest);
  /** Makes a complete picture of mine (an upload's file id) my avatar; `null` removes it. */
  setAvatar = (fileId: Uuid | null) =>
    this.call<UserView>('PATCH', '/users/me', { avatar_file_id: fileId } satisfies import('./types').UpdateProfileRequest);
  /** The caller's live sessions (logins), `current` marking the calling one. */
  sessions = () => this.call<import('./types').SessionList>('GET', '/auth/sessions').then((r) => r.sessions);
  /** Signs another session out (its tokens stop working, its sockets close with 4002). */
  revokeSession = (id: Uuid) => this.call<void>('DELETE', `/auth/sessions/${id}`);

  /**
   * Changes the password; the server signs out every other session and keeps this one. A wrong
   * current password is 401 `bad_credentials`: thrown as it is, not taken for an expired token
   * (refreshing and asking again would count a second failure towards the lockout).
   */
  async changePassword(current: string, next: string): Promise<void> {
    const body = { current_password: current, new_password: next } satisfies import('./types').ChangePasswordRequest;
    const used = this.accessToken();
    try {
      return await this.raw<void>('POST', '/auth/password', body);
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 401 || error.code === 'bad_credentials' || !this.tokens?.refresh_token) throw error;
    }
    await this.refreshIfStale(used);
    return this.raw<void>('POST', '/auth/password', body);
  }

  /**
   * Keeps the signed-in user's new profile with the saved tokens, so the next page load starts
   * with it. Under the refresh lock, over the tokens as saved (another tab may have refreshed).
   */
  async rememberUser(user: UserView): Promise<void> {
    while (this.refreshing) await this.refreshing.catch(() => {});
    const run = async () => {
      const saved = this.store.load();
      if (!saved || saved.user.id !== user.id) return;
      if (saved.user.display_name === user.display_name && saved.user.username === user.username) return;
      this.setTokens({ ...saved, user: { ...saved.user, display_name: user.display_name, username: user.username } });
    };
    const locks = (navigator as Navigator & { locks?: LockManager }).locks;
    await (locks ? locks.request('natter.refresh', run) : run());
  }
}
