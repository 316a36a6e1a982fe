// Signed file URLs expire (`url_expires_at_ms`, 5 minutes by default): a message loaded earlier
// holds dead ones. A view whose URL failed, or is about to expire when the user acts on it, is
// replaced by a fresh one from `GET /files/{id}`; the freshest view of each file is shared, so
// the lightbox and the download link use what an image already refreshed.
import { useEffect, useState } from 'preact/hooks';
import type { FileView, Uuid } from '../natter';
import { store } from '../store';

/** URLs this close to their expiry are refreshed before use (a download must start in time). */
const EXPIRY_MARGIN_MS = 10_000;

const freshest = new Map<Uuid, FileView>();
const inFlight = new Map<Uuid, Promise<FileView>>();

function newer(a: FileView, b: FileView | undefined): FileView {
  return b && b.url_expires_at_ms > a.url_expires_at_ms ? b : a;
}

/** The freshest view known of `file`. */
export function latest(file: FileView): FileView {
  return newer(file, freshest.get(file.id));
}

/** A fresh view of `file` from the server (one request at a time per file). */
export function refresh(file: FileView): Promise<FileView> {
  let pending = inFlight.get(file.id);
  if (!pending) {
    pending = store.api
      .file(file.id)
      .then((view) => {
        freshest.set(view.id, newer(view, freshest.get(view.id)));
        return latest(view);
      })
      .finally(() => inFlight.delete(file.id));
    inFlight.set(file.id, pending);
  }
  return pending;
}

/** Whether `file`'s URLs are expired or about to be. */
export function expiresSoon(file: FileView): boolean {
  return file.url_expires_at_ms - Date.now() <= EXPIRY_MARGIN_MS;
}

/** `file` with URLs valid for at least a few more seconds. */
export async function usable(file: FileView): Promise<FileView> {
  const view = latest(file);
  return expiresSoon(view) ? refresh(view) : view;
}

/**
 * The view to render for `file`, what to call when one of its URLs failed to load, and a number
 * to key the media element with: it changes after a refresh, so the element loads again even
 * when the server signed the same URL (same second). One refresh per URL: a URL that fails even
 * fresh is not asked for again.
 */
export function useFreshFile(file: FileView): [FileView, () => void, number] {
  const [view, setView] = useState(() => latest(file));
  const [failed, setFailed] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);
  useEffect(() => setView(latest(file)), [file.url]);
  const onError = () => {
    if (failed === view.url) return;
    setFailed(view.url);
    refresh(view).then(
      (fresh) => {
        setView(fresh);
        setAttempt((n) => n + 1);
      },
      () => {},
    );
  };
  return [view, onError, attempt];
}
