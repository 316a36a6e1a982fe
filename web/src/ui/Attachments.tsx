// The files of a message: images and videos in place, in a box sized from the file's width and
// height when known (so the list does not jump while they load) with the ThumbHash placeholder
// behind, showing the small thumbnail or the original; a click on an image opens the lightbox.
// Sounds get an <audio> player, anything else a card with a download link.
import { useState } from 'preact/hooks';
import { thumbHashToDataURL } from 'thumbhash';
import type { FileView } from '../natter';
import { formatBytes } from './common';
import { expiresSoon, useFreshFile, usable } from './freshFile';
import { Lightbox } from './Lightbox';

/** Media boxes fit in this square (CSS px); the small thumbnail is 320 px for that reason. */
const BOX = 320;
/** The box of media whose size is unknown (the picture is fitted inside). */
const UNKNOWN = { width: 240, height: 180 };

const isImage = (f: FileView) => f.inline && f.mime.startsWith('image/');
const isVideo = (f: FileView) => f.inline && f.mime.startsWith('video/');
const isAudio = (f: FileView) => f.inline && f.mime.startsWith('audio/');

export function Attachments({ files }: { files: FileView[] }) {
  const [open, setOpen] = useState<number | null>(null);
  const images = files.filter(isImage);
  return (
    <div class="attachments">
      {files.map((f) => {
        if (isImage(f)) return <ImageTile key={f.id} file={f} onOpen={() => setOpen(images.indexOf(f))} />;
        if (isVideo(f)) return <VideoTile key={f.id} file={f} />;
        if (isAudio(f)) return <AudioTile key={f.id} file={f} />;
        return <FileCard key={f.id} file={f} />;
      })}
      {open !== null && <Lightbox images={images} start={open} onClose={() => setOpen(null)} />}
    </div>
  );
}

/** The CSS box of a picture: its own aspect ratio fitted in `BOX`, or `UNKNOWN`. */
function box(f: FileView): { width: number; height: number } {
  if (!f.width || !f.height) return UNKNOWN;
  const scale = Math.min(1, BOX / Math.max(f.width, f.height));
  return { width: Math.max(1, Math.round(f.width * scale)), height: Math.max(1, Math.round(f.height * scale)) };
}

function placeholder(f: FileView): string | undefined {
  if (!f.thumbhash) return undefined;
  try {
    const bytes = Uint8Array.from(atob(f.thumbhash), (c) => c.charCodeAt(0));
    return `url(${thumbHashToDataURL(bytes)})`;
  } catch {
    return undefined;
  }
}

function ImageTile({ file, onOpen }: { file: FileView; onOpen: () => void }) {
  const [view, onError, attempt] = useFreshFile(file);
  const { width, height } = box(view);
  const src = view.thumbnails?.find((t) => t.size === 'small')?.url ?? view.url;
  return (
    <button
      type="button"
      class={view.width && view.height ? 'media' : 'media unknown-size'}
      style={{ width: `${width}px`, aspectRatio: `${width} / ${height}`, backgroundImage: placeholder(view) }}
      aria-label={`Open image ${view.name}`}
      onClick={onOpen}
    >
      <img key={attempt} src={src} alt={view.name} loading="lazy" decoding="async" onError={onError} />
    </button>
  );
}

/** A video, or a sound in a video container (a WebM voice note): shown as audio once its metadata says it has no picture. */
function VideoTile({ file }: { file: FileView }) {
  const [view, onError, attempt] = useFreshFile(file);
  const [soundOnly, setSoundOnly] = useState(false);
  if (soundOnly) return <AudioTile file={file} />;
  const { width, height } = box(view);
  return (
    <div class="media" style={{ width: `${width}px`, aspectRatio: `${width} / ${height}`, backgroundImage: placeholder(view) }}>
      <video
        key={attempt}
        src={view.url}
        poster={view.thumbnails?.find((t) => t.size === 'small')?.url}
        controls
        preload="metadata"
        aria-label={view.name}
        onError={onError}
        onLoadedMetadata={(e) => (e.currentTarget as HTMLVideoElement).videoWidth === 0 && setSoundOnly(true)}
      />
    </div>
  );
}

function AudioTile({ file }: { file: FileView }) {
  const [view, onError, attempt] = useFreshFile(file);
  return (
    <div class="audio">
      <span class="small-text">{view.name}</span>
      <audio key={attempt} src={view.url} controls preload="none" aria-label={view.name} onError={onError} />
    </div>
  );
}

function FileCard({ file }: { file: FileView }) {
  const [view] = useFreshFile(file);
  /** An expired link is refreshed, then followed. */
  async function download(e: MouseEvent) {
    if (!expiresSoon(view)) return;
    e.preventDefault();
    const fresh = await usable(view).catch(() => view);
    const a = document.createElement('a');
    a.href = fresh.url;
    a.download = fresh.name;
    a.click();
  }
  return (
    <div class="file-card" data-file={view.name}>
      <span class="file-icon" aria-hidden="true">
        📄
      </span>
      <div class="grow">
        <div class="file-name" title={view.name}>
          {view.name}
        </div>
        <div class="muted small-text">
          {view.mime} · {formatBytes(view.size)}
        </div>
      </div>
      <a class="button small" href={view.url} download={view.name} onClick={download}>
        Download
      </a>
    </div>
  );
}
