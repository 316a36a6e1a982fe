// Voice notes: the microphone button records with MediaRecorder (Opus in WebM where the browser
// can, else its default), shows the elapsed time with stop and discard, and hands the recording
// to the composer as a file, like any other attachment. Hidden where MediaRecorder or the
// microphone API is missing. A note stops by itself at `VOICE_MAX_MS`.
import { useEffect, useRef, useState } from 'preact/hooks';

/** Longest voice note: past this the recording stops and is attached. */
const VOICE_MAX_MS = 5 * 60_000;
/** Preferred formats, best first; the first the browser records is used. */
const TYPES = ['audio/webm;codecs=opus', 'audio/ogg;codecs=opus', 'audio/mp4'];

const supported = typeof MediaRecorder !== 'undefined' && !!navigator.mediaDevices?.getUserMedia;

function extension(mime: string): string {
  if (mime.includes('ogg')) return 'ogg';
  if (mime.includes('mp4')) return 'm4a';
  return 'webm';
}

function clock(ms: number): string {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

export function VoiceRecorder({ onRecorded }: { onRecorded: (file: File) => void }) {
  const [recording, setRecording] = useState<{ recorder: MediaRecorder; started: number } | null>(null);
  const [elapsed, setElapsed] = useState(0);
  const [error, setError] = useState('');
  const keep = useRef(true);

  useEffect(() => {
    if (!recording) return;
    const timer = setInterval(() => {
      const ms = Date.now() - recording.started;
      setElapsed(ms);
      if (ms >= VOICE_MAX_MS) stop(true);
    }, 250);
    return () => clearInterval(timer);
  }, [recording]);

  // Leaving the conversation discards a recording in progress.
  useEffect(() => () => recording?.recorder.state === 'recording' && stop(false), [recording]);

  async function start() {
    setError('');
    let stream: MediaStream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch {
      setError('No microphone, or access to it was refused.');
      return;
    }
    const mimeType = TYPES.find((t) => MediaRecorder.isTypeSupported(t));
    const recorder = new MediaRecorder(stream, mimeType ? { mimeType } : undefined);
    const chunks: Blob[] = [];
    recorder.ondataavailable = (e) => e.data.size && chunks.push(e.data);
    recorder.onstop = () => {
      for (const track of stream.getTracks()) track.stop();
      setRecording(null);
      setElapsed(0);
      if (!keep.current || !chunks.length) return;
      const type = recorder.mimeType || mimeType || 'audio/webm';
      const stamp = new Date().toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '-');
      onRecorded(new File(chunks, `voice-${stamp}.${extension(type)}`, { type }));
    };
    keep.current = true;
    recorder.start(1000);
    setRecording({ recorder, started: Date.now() });
  }

  function stop(attach: boolean) {
    keep.current = attach;
    if (recording?.recorder.state === 'recording') recording.recorder.stop();
  }

  if (!supported) return null;
  if (!recording) {
    return (
      <>
        <button type="button" class="icon attach" aria-label="Record a voice note" onClick={() => void start()}>
          <svg width="20" height="20" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">
            <path d="M12 3a3 3 0 0 0-3 3v6a3 3 0 0 0 6 0V6a3 3 0 0 0-3-3zM5 11a7 7 0 0 0 14 0M12 18v3" />
          </svg>
        </button>
        {error && (
          <span class="voice-error small-text" role="alert">
            {error}
          </span>
        )}
      </>
    );
  }
  return (
    <span class="recording" role="group" aria-label="Recording a voice note">
      <span class="rec-dot" aria-hidden="true" />
      <span class="rec-time" aria-live="off">
        {clock(elapsed)}
      </span>
      <button type="button" class="small" onClick={() => stop(true)}>
        Stop recording
      </button>
      <button type="button" class="icon small" aria-label="Discard the recording" onClick={() => stop(false)}>
        ✕
      </button>
    </span>
  );
}
