// A message's images, one at a time, over everything: the large thumbnail (or the original when
// there is none), arrows (buttons and keys) between the message's images, Escape or the
// backdrop closes. A native modal <dialog>, so focus and Escape behave as in the other dialogs.
import { useEffect, useRef, useState } from 'preact/hooks';
import type { FileView } from '../natter';
import { useFreshFile } from './freshFile';

export function Lightbox({ images, start, onClose }: { images: FileView[]; start: number; onClose: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const [index, setIndex] = useState(start);
  const [view, onError, attempt] = useFreshFile(images[index]);
  const src = view.thumbnails?.find((t) => t.size === 'large')?.url ?? view.url;
  const step = (by: number) => setIndex((i) => (i + by + images.length) % images.length);

  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
    return () => dialog?.close();
  }, []);

  return (
    <dialog
      ref={ref}
      class="lightbox"
      aria-label={view.name}
      onClose={onClose}
      onClick={(e) => e.target === ref.current && onClose()}
      onKeyDown={(e) => {
        if (e.key === 'ArrowRight') step(1);
        else if (e.key === 'ArrowLeft') step(-1);
      }}
    >
      <img key={`${src} ${attempt}`} src={src} alt={view.name} onError={onError} />
      <div class="lightbox-bar">
        {images.length > 1 && (
          <button class="icon" aria-label="Previous image" onClick={() => step(-1)}>
            ‹
          </button>
        )}
        <span class="lightbox-name">
          {view.name}
          {images.length > 1 && ` (${index + 1}/${images.length})`}
        </span>
        {images.length > 1 && (
          <button class="icon" aria-label="Next image" onClick={() => step(1)}>
            ›
          </button>
        )}
        <button class="icon" aria-label="Close" onClick={onClose}>
          ✕
        </button>
      </div>
    </dialog>
  );
}
