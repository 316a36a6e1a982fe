// The files the user picked, dropped or pasted for the next message of each conversation, each
// uploading from the moment it is added. Kept per conversation (a draft's files survive switching
// conversations) and outside components, so every view of the composer sees the same list.
import { useEffect, useReducer } from 'preact/hooks';
import { Upload, type Uuid } from '../natter';
import { ATTACHMENTS_MAX } from '../natter/limits';
import { store } from '../store';

const pending = new Map<Uuid, Upload[]>();
const listeners = new Set<() => void>();

function emit(): void {
  for (const listener of listeners) listener();
}

export function pendingFiles(conversation: Uuid): Upload[] {
  return pending.get(conversation) ?? [];
}

/** Starts uploading `files` for the next message; answers how many did not fit (over `ATTACHMENTS_MAX`). */
export function addFiles(conversation: Uuid, files: File[]): number {
  const list = [...pendingFiles(conversation)];
  const room = Math.max(0, ATTACHMENTS_MAX - list.length);
  for (const file of files.slice(0, room)) {
    const upload = new Upload(store.api, file, file.name || 'file');
    upload.subscribe(emit);
    list.push(upload);
  }
  pending.set(conversation, list);
  emit();
  return Math.max(0, files.length - room);
}

/** Cancels the upload (when still running) and takes the file off the next message. */
export function removeFile(conversation: Uuid, upload: Upload): void {
  upload.cancel();
  pending.set(conversation, pendingFiles(conversation).filter((u) => u !== upload));
  emit();
}

/** Hands the files over to a message being sent (their uploads go on). */
export function takeFiles(conversation: Uuid): Upload[] {
  const list = pendingFiles(conversation);
  pending.delete(conversation);
  emit();
  return list;
}

/** Re-renders the caller whenever a pending file is added, removed or makes progress. */
export function usePendingFiles(conversation: Uuid): Upload[] {
  const [, bump] = useReducer((n: number) => n + 1, 0);
  useEffect(() => {
    listeners.add(bump as () => void);
    return () => void listeners.delete(bump as () => void);
  }, []);
  return pendingFiles(conversation);
}
