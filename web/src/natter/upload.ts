// One file uploaded with tus 1.0 (docs/media.md): `POST /files/uploads` creates it, `PATCH`es of
// `UPLOAD_CHUNK_BYTES` send the bytes (XHR, for progress events), and after a network error or a
// 5xx the upload asks the server for its offset (`HEAD`) and goes on from there, after the same
// jittered backoff as reconnects, at most `UPLOAD_MAX_RETRIES` times in a row. Cancel aborts the
// request in flight and deletes the upload on the server. A refusal (413 over the size or the
// quota, 400) fails the upload with the server's message.
import { Backoff } from './backoff';
import { BACKOFF_INITIAL_MS, BACKOFF_MAX_MS, UPLOAD_CHUNK_BYTES, UPLOAD_MAX_RETRIES } from './limits';
import { ApiError, type Api } from './rest';
import type { ErrorBody, UploadView, Uuid } from './types';

export type UploadState = 'uploading' | 'done' | 'failed' | 'cancelled';

interface XhrResult {
  status: number;
  headers: (name: string) => string | null;
  body: string;
}

class Aborted extends Error {}

let uploads = 0;

export class Upload {
  /** Unique in this page: a key for lists. */
  readonly key = ++uploads;
  state: UploadState = 'uploading';
  /** The upload's id, which is the file's once complete (set once created). */
  id: Uuid | null = null;
  /** Bytes the server has (or is receiving in the request in flight). */
  sent = 0;
  /** Why it failed: the server's message, or a network error. */
  error: string | null = null;
  /** Resolves with the file id when complete; rejects when it fails or is cancelled. */
  readonly done: Promise<Uuid>;
  private location: string | null = null;
  private xhr: XMLHttpRequest | null = null;
  private listeners = new Set<() => void>();

  constructor(
    private readonly api: Api,
    readonly file: Blob,
    readonly name: string,
  ) {
    this.done = this.run();
    // Callers that only watch `state` must not see an unhandled rejection.
    this.done.catch(() => {});
  }

  get total(): number {
    return this.file.size;
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stops the upload and deletes what the server has (nothing once complete). */
  cancel(): void {
    if (this.state !== 'uploading') return;
    this.state = 'cancelled';
    this.xhr?.abort();
    if (this.location) void this.request('DELETE', this.location).catch(() => {});
    this.emit();
  }

  private emit(): void {
    for (const listener of this.listeners) listener();
  }

  private async run(): Promise<Uuid> {
    try {
      const created = await this.retrying(() => this.create());
      this.id = created.id;
      this.location = this.api.baseUrl + created.upload_url;
      if (this.state === 'cancelled') {
        // Cancelled while being created: delete what the server just made.
        void this.request('DELETE', this.location).catch(() => {});
        throw new Aborted();
      }
      while (this.sent < this.total) await this.retrying(() => this.patch());
      this.state = 'done';
      this.emit();
      return created.id;
    } catch (error) {
      if (this.state === 'uploading') {
        this.state = 'failed';
        this.error = error instanceof Error ? error.message : String(error);
      }
      this.emit();
      throw error instanceof Aborted ? new Error('cancelled') : error;
    }
  }

  /** Runs `step`; after a network error or a 5xx, waits, asks the offset and runs it again. */
  private async retrying<T>(step: () => Promise<T>): Promise<T> {
    const backoff = new Backoff(BACKOFF_INITIAL_MS, BACKOFF_MAX_MS);
    for (let failures = 0; ; failures++) {
      try {
        return await step();
      } catch (error) {
        const transient = error instanceof ApiError && (error.status === 0 || error.status >= 500 || error.code === 'offset_mismatch');
        if (!transient || failures + 1 >= UPLOAD_MAX_RETRIES || this.state !== 'uploading') throw error;
        await new Promise((r) => setTimeout(r, backoff.nextDelayMs()));
        if (this.state !== 'uploading') throw new Aborted();
        if (this.location) {
          const head = await this.request('HEAD', this.location).catch(() => null);
          const offset = Number(head?.headers('Upload-Offset'));
          if (head && head.status === 200 && Number.isFinite(offset)) {
            this.sent = offset;
            this.emit();
          }
        }
      }
    }
  }

  private async create(): Promise<UploadView> {
    const bytes = new TextEncoder().encode(this.name);
    const encoded = btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join(''));
    const res = await this.request('POST', `${this.api.baseUrl}/api/v1/files/uploads`, {
      'Upload-Length': String(this.total),
      'Upload-Metadata': `filename ${encoded}`,
    });
    return JSON.parse(res.body) as UploadView;
  }

  private async patch(): Promise<void> {
    const start = this.sent;
    const chunk = this.file.slice(start, Math.min(start + UPLOAD_CHUNK_BYTES, this.total));
    const res = await this.request(
      'PATCH',
      this.location as string,
      { 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': String(start) },
      chunk,
      (loaded) => {
        this.sent = start + loaded;
        this.emit();
      },
    );
    this.sent = Number(res.headers('Upload-Offset') ?? start + chunk.size);
    this.emit();
  }

  /** One authenticated request, refreshing the token once on 401; non-2xx answers throw `ApiError`. */
  private async request(
    method: string,
    url: string,
    headers: Record<string, string> = {},
    body?: Blob,
    progress?: (loaded: number) => void,
  ): Promise<XhrResult> {
    const used = this.api.accessToken();
    let res = await this.send(method, url, headers, body, progress);
    if (res.status === 401) {
      await this.api.refreshIfStale(used);
      res = await this.send(method, url, headers, body, progress);
    }
    if (res.status >= 200 && res.status < 300) return res;
    let err: ErrorBody = { code: `http_${res.status}`, message: res.body.slice(0, 200) || `HTTP ${res.status}` };
    try {
      err = JSON.parse(res.body) as ErrorBody;
    } catch {
      /* not JSON: keep the status */
    }
    throw new ApiError(res.status, err.code, err.message, err.retry_after_ms ?? undefined);
  }

  private send(
    method: string,
    url: string,
    headers: Record<string, string>,
    body?: Blob,
    progress?: (loaded: number) => void,
  ): Promise<XhrResult> {
    if (this.state === 'cancelled' && method !== 'DELETE') return Promise.reject(new Aborted());
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      if (method !== 'DELETE') this.xhr = xhr;
      xhr.open(method, url);
      const token = this.api.accessToken();
      if (token) xhr.setRequestHeader('Authorization', `Bearer ${token}`);
      xhr.setRequestHeader('Tus-Resumable', '1.0.0');
      for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
      if (progress) xhr.upload.onprogress = (e) => progress(e.loaded);
      xhr.onload = () => resolve({ status: xhr.status, headers: (n) => xhr.getResponseHeader(n), body: xhr.responseText });
      xhr.onerror = () => reject(new ApiError(0, 'network', 'cannot reach the server'));
      xhr.onabort = () => reject(new Aborted());
      xhr.send(body ?? null);
    });
  }
}
