// The files waiting to go with the next message: name, size, upload progress, and a button that
// cancels the upload and removes the file. An upload the server refused shows the server's reason.
import type { Upload } from '../natter';
import { formatBytes } from './common';

export function FileChips({ uploads, onRemove }: { uploads: Upload[]; onRemove: (u: Upload) => void }) {
  if (!uploads.length) return null;
  return (
    <ul class="file-chips" aria-label="Files to send">
      {uploads.map((u) => (
        <li key={u.key} class={`file-chip ${u.state}`} data-state={u.state}>
          <span class="file-chip-name" title={u.name}>
            {u.name}
          </span>
          <span class="muted small-text">{formatBytes(u.total)}</span>
          {u.state === 'uploading' && (
            <progress max={u.total || 1} value={u.sent} aria-label={`Uploading ${u.name}`} />
          )}
          {u.state === 'done' && <span class="muted small-text">ready</span>}
          {u.state === 'failed' && (
            <span class="failed small-text" role="alert">
              {u.error}
            </span>
          )}
          <button type="button" class="icon small" aria-label={`Remove ${u.name}`} onClick={() => onRemove(u)}>
            ✕
          </button>
        </li>
      ))}
    </ul>
  );
}
