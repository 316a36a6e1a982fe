// A WebSocket session that authenticates with `hello` (token in the first frame, never in the
// URL), resumes with its cursors after every drop, drops duplicate events, keeps a heartbeat and
// re-sends unanswered commands after reconnecting (mirrors natter-sdk's session.rs, driver.rs).
//
// Life of a session: connect -> hello (+ resume replay) -> ack -> re-send pending commands ->
// serve (route answers, admit events, ping every idle_timeout_ms / 3) -> on a drop: 4002 ends
// it, 4001 refreshes the token once, anything else waits a jittered backoff and reconnects.
import { ApiError, type Api } from './rest';
import { Backoff } from './backoff';
import {
  BACKOFF_INITIAL_MS,
  BACKOFF_MAX_MS,
  COMMAND_TIMEOUT_MS,
  DEADLINE_SWEEP_MS,
  HELLO_TIMEOUT_MS,
  MAX_IN_FLIGHT,
  MIN_HEARTBEAT_MS,
} from './limits';
import { ResumeState } from './resume';
import { ACK_KEY, type AckKey, type AckOf, type ClientFrame, type Command, type ErrorBody, type EventFrame, type HelloOk, type ServerFrame, type Uuid } from './types';

export type ConnectionState = 'connecting' | 'connected' | 'closed';

export class CommandError extends Error {
  constructor(readonly body: ErrorBody) {
    super(body.message);
    this.name = 'CommandError';
  }
  get code(): string {
    return this.body.code;
  }
}

/** The server answered a command with an ack of another kind (a server or protocol bug). */
export class WrongAckError extends Error {
  constructor(readonly expected: AckKey | null, readonly found: string[]) {
    super(`expected an ack carrying ${expected ?? 'nothing'}, got ${found.length ? found.join(', ') : 'nothing'}`);
    this.name = 'WrongAckError';
  }
}

export class TimeoutError extends Error {
  constructor() {
    super('timed out');
    this.name = 'TimeoutError';
  }
}

export class ClosedError extends Error {
  constructor(readonly code: number | undefined, reason: string) {
    super(reason || 'session closed');
    this.name = 'ClosedError';
  }
}

interface Pending {
  frame: ClientFrame;
  /** Resolves with the ack's fields once they match what the command's kind carries. */
  resolve: (ack: object) => void;
  reject: (error: Error) => void;
  deadline: number;
}

const CLOSE_SESSION_REVOKED = 4002;
const CLOSE_UNAUTHENTICATED = 4001;

export class Session {
  readonly resume = new ResumeState();
  state: ConnectionState = 'connecting';
  hello: HelloOk | null = null;
  reconnects = 0;
  closeReason: ClosedError | null = null;

  private ws: WebSocket | null = null;
  private nextId = 1;
  /** Unanswered commands by key; a Map keeps insertion (= key) order for re-sending. */
  private pending = new Map<number, Pending>();
  private backoff = new Backoff(BACKOFF_INITIAL_MS, BACKOFF_MAX_MS);
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private sweep: ReturnType<typeof setInterval>;
  private lastReadMs = 0;
  /** The access token the last hello carried: refresh only if it is still the current one. */
  private lastToken: string | null = null;
  private refreshedSinceConnect = false;
  private stateListeners = new Set<(state: ConnectionState) => void>();
  private eventListeners = new Set<(event: EventFrame) => void>();
  private onOnline = () => this.reconnectNow();

  constructor(private readonly api: Api) {
    this.sweep = setInterval(() => this.sweepExpired(), DEADLINE_SWEEP_MS);
    if (typeof window !== 'undefined') window.addEventListener('online', this.onOnline);
    this.open();
  }

  onState(listener: (state: ConnectionState) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  onEvent(listener: (event: EventFrame) => void): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  private setState(state: ConnectionState): void {
    if (this.state === state) return;
    this.state = state;
    for (const listener of this.stateListeners) listener(state);
  }

  /** Declares the app has `conversationId` up to `modSeq` (from REST history). */
  track(conversationId: Uuid, modSeq: number): void {
    this.resume.track(conversationId, modSeq);
  }

  forget(conversationId: Uuid): void {
    this.resume.forget(conversationId);
  }

  /**
   * Sends a command and resolves with its ack. A command unanswered when the connection drops is
   * re-sent after the reconnect (sends are idempotent by client_msg_id), so it only fails on its
   * timeout or when the session ends.
   */
  request<C extends Command>(command: C, timeoutMs = COMMAND_TIMEOUT_MS): Promise<AckOf<C>> {
    if (this.state === 'closed') return Promise.reject(this.closeReason ?? new ClosedError(undefined, 'closed'));
    if (this.pending.size >= MAX_IN_FLIGHT) return Promise.reject(new Error('too many commands in flight'));
    const key = this.nextId++;
    const frame = { ...command, id: `r${key}` } as ClientFrame;
    return new Promise<AckOf<C>>((resolve, reject) => {
      this.pending.set(key, { frame, resolve: resolve as (ack: object) => void, reject, deadline: Date.now() + timeoutMs });
      if (this.state === 'connected') this.write(frame);
    });
  }

  /** Drops the connection without a close handshake, as a network failure would; reconnects. */
  forceDisconnect(): void {
    const ws = this.ws;
    if (!ws) return;
    this.detach(ws);
    ws.close();
    this.lost(undefined, 'forced disconnect');
  }

  /** Skips the backoff wait (the browser says it is back online). */
  reconnectNow(): void {
    if (this.state === 'closed' || this.ws) return;
    clearTimeout(this.retryTimer);
    this.open();
  }

  /** Closes cleanly and stops reconnecting; pending commands fail. */
  close(): void {
    const ws = this.ws;
    if (ws) {
      this.detach(ws);
      ws.close(1000);
    }
    this.finish(new ClosedError(1000, 'closed by the client'));
  }

  private open(): void {
    clearTimeout(this.retryTimer);
    this.setState('connecting');
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.api.websocketUrl());
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    const helloId = `h${this.nextId++}`;
    const helloTimer = setTimeout(() => {
      if (this.ws === ws && this.state !== 'connected') {
        this.detach(ws);
        ws.close();
        this.lost(undefined, 'hello timed out');
      }
    }, HELLO_TIMEOUT_MS);
    ws.onopen = () => {
      const token = this.api.accessToken() ?? '';
      this.lastToken = token;
      this.resume.beginReplay();
      ws.send(JSON.stringify(this.resume.hello(helloId, token)));
    };
    ws.onmessage = (message) => {
      this.lastReadMs = Date.now();
      let frame: ServerFrame;
      try {
        frame = JSON.parse(String(message.data)) as ServerFrame;
      } catch {
        return;
      }
      if (frame.type === 'ack' && frame.id === helloId) {
        clearTimeout(helloTimer);
        if (frame.hello) this.onConnected(ws, frame.hello);
        return;
      }
      if (frame.type === 'error' && frame.id === helloId) {
        clearTimeout(helloTimer);
        this.detach(ws);
        ws.close();
        if (frame.code === 'unauthenticated') void this.unauthenticated();
        else this.lost(undefined, frame.message);
        return;
      }
      this.onFrame(frame);
    };
    ws.onclose = (event) => {
      clearTimeout(helloTimer);
      if (this.ws !== ws) return;
      this.detach(ws);
      if (event.code === CLOSE_SESSION_REVOKED) {
        this.finish(new ClosedError(event.code, 'signed out'));
        this.api.onSignedOut();
      } else if (event.code === CLOSE_UNAUTHENTICATED) {
        void this.unauthenticated();
      } else {
        this.lost(event.code, event.reason);
      }
    };
    ws.onerror = () => {
      /* onclose follows */
    };
  }

  private onConnected(ws: WebSocket, ok: HelloOk): void {
    this.resume.onHelloOk(ok);
    this.hello = ok;
    this.backoff.reset();
    this.refreshedSinceConnect = false;
    this.setState('connected');
    // Commands from the previous connection (and queued meanwhile), in order.
    this.sweepExpired();
    for (const pending of this.pending.values()) this.write(pending.frame);
    if (ok.idle_timeout_ms > 0) {
      const period = Math.max(ok.idle_timeout_ms / 3, MIN_HEARTBEAT_MS);
      this.lastReadMs = Date.now();
      this.heartbeat = setInterval(() => {
        if (this.ws !== ws) return;
        // The server pongs every ping: silence for a whole idle timeout means a dead link.
        if (Date.now() - this.lastReadMs > ok.idle_timeout_ms) {
          this.forceDisconnect();
          return;
        }
        this.write({ type: 'ping', id: `k${this.nextId++}` });
      }, period);
    }
  }

  private async unauthenticated(): Promise<void> {
    this.ws = null;
    clearInterval(this.heartbeat);
    this.setState('connecting');
    if (this.refreshedSinceConnect) {
      this.finish(new ClosedError(CLOSE_UNAUTHENTICATED, 'token refused'));
      this.api.onSignedOut();
      return;
    }
    this.refreshedSinceConnect = true;
    try {
      await this.api.refreshIfStale(this.lastToken);
    } catch (error) {
      if (error instanceof ApiError && error.status > 0 && error.status < 500 && error.status !== 429) {
        this.finish(new ClosedError(CLOSE_UNAUTHENTICATED, 'signed out'));
        return;
      }
      this.refreshedSinceConnect = false;
      this.scheduleReconnect();
      return;
    }
    if (this.state !== 'closed') this.open();
  }

  private onFrame(frame: ServerFrame): void {
    switch (frame.type) {
      case 'ack': {
        const { type: _t, id, ...body } = frame;
        this.answer(id, (p) => {
          const expected = ACK_KEY[p.frame.type];
          const found = (['hello', 'message', 'member', 'messages'] as const).filter((k) => body[k] !== undefined);
          if (found.length === (expected ? 1 : 0) && (!expected || found[0] === expected)) p.resolve(body);
          else p.reject(new WrongAckError(expected, found));
        });
        return;
      }
      case 'pong':
        this.answer(frame.id, (p) => p.resolve({}));
        return;
      case 'error':
        if (frame.id !== undefined) {
          const { type: _t, id, ...body } = frame;
          this.answer(id, (p) => p.reject(new CommandError(body)));
          return;
        }
        break;
    }
    const event = frame as EventFrame;
    if (!this.resume.admit(event)) return;
    for (const listener of this.eventListeners) {
      try {
        listener(event);
      } catch (error) {
        console.warn('event listener failed', error);
      }
    }
  }

  private answer(id: string, settle: (p: Pending) => void): void {
    if (!id.startsWith('r')) return;
    const key = Number(id.slice(1));
    const pending = this.pending.get(key);
    if (!pending) return;
    this.pending.delete(key);
    settle(pending);
  }

  private write(frame: ClientFrame): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return; // re-sent after the reconnect
    ws.send(JSON.stringify(frame));
  }

  private detach(ws: WebSocket): void {
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    if (this.ws === ws) this.ws = null;
    clearInterval(this.heartbeat);
  }

  private lost(_code: number | undefined, _reason: string): void {
    if (this.state === 'closed') return;
    this.ws = null;
    clearInterval(this.heartbeat);
    this.setState('connecting');
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    clearTimeout(this.retryTimer);
    const delay = this.backoff.nextDelayMs();
    this.retryTimer = setTimeout(() => {
      if (this.state === 'closed' || this.ws) return;
      this.reconnects += 1;
      this.open();
    }, delay);
  }

  private sweepExpired(): void {
    const now = Date.now();
    for (const [key, pending] of this.pending) {
      if (pending.deadline <= now) {
        this.pending.delete(key);
        pending.reject(new TimeoutError());
      }
    }
  }

  private finish(reason: ClosedError): void {
    if (this.state === 'closed') return;
    this.closeReason = reason;
    clearTimeout(this.retryTimer);
    clearInterval(this.heartbeat);
    clearInterval(this.sweep);
    if (typeof window !== 'undefined') window.removeEventListener('online', this.onOnline);
    for (const pending of this.pending.values()) pending.reject(reason);
    this.pending.clear();
    this.setState('closed');
  }
}
