// The "Notifications" dialog: push on this device (Web Push; where the browser or the server has
// none, only the permission for the page's own notifications while it is open), and what the user wants to be notified of on every device (level, preview,
// quiet hours: GET/PUT /users/me/notifications).
import { useEffect, useState } from 'preact/hooks';
import { ApiError, type NotificationSettings, type NotifyLevel, type PreviewLevel } from '../natter';
import { disablePush, enablePush, pushState, type PushState } from '../push';
import { store } from '../store';
import { FormError, FormStatus } from './common';
import { Modal } from './Dialogs';

const message = (e: unknown) => (e instanceof ApiError || e instanceof Error ? e.message : 'Something went wrong');

/** Without push, the page itself can still notify while it is open in the background (store.ts). */
function PageNotifications() {
  const [perm, setPerm] = useState(typeof Notification === 'undefined' ? 'denied' : Notification.permission);
  if (perm !== 'default') return null;
  return (
    <button onClick={() => void Notification.requestPermission().then(setPerm)}>Notify me while natter is open in the background</button>
  );
}

function ThisDevice() {
  const [state, setState] = useState<PushState | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  useEffect(() => {
    pushState(store.api)
      .then(setState)
      .catch((e) => setError(message(e)));
  }, []);
  if (state === 'unsupported') return <PageNotifications />;
  if (state === null) return <FormError text={error} />;
  async function toggle(on: boolean) {
    setBusy(true);
    setError('');
    try {
      await (on ? enablePush(store.api) : disablePush(store.api));
      setState(await pushState(store.api));
    } catch (e) {
      setError(message(e));
    } finally {
      setBusy(false);
    }
  }
  return (
    <fieldset class="stack" data-push={state}>
      <legend>This device</legend>
      {state === 'denied' ? (
        <p class="muted small-text">Notifications are blocked for natter in this browser's site settings.</p>
      ) : (
        <label class="check">
          <input type="checkbox" checked={state === 'on'} disabled={busy} onChange={(e) => void toggle((e.target as HTMLInputElement).checked)} />
          Push notifications on this device, even when natter is closed
        </label>
      )}
      <FormError text={error} />
    </fieldset>
  );
}

const LEVELS: [NotifyLevel, string][] = [
  ['all', 'All messages'],
  ['mentions_and_direct', 'Mentions and direct messages'],
  ['nothing', 'Nothing'],
];
const PREVIEWS: [PreviewLevel, string][] = [
  ['full', 'Sender and message'],
  ['sender_only', 'Sender only'],
  ['hidden', 'Nothing (“New message”)'],
];

function localTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

function Preferences() {
  const [settings, setSettings] = useState<NotificationSettings | null>(null);
  const [status, setStatus] = useState('');
  const [error, setError] = useState('');
  useEffect(() => {
    store.api
      .notificationSettings()
      .then(setSettings)
      .catch((e) => setError(message(e)));
  }, []);
  if (!settings) return error ? <p class="error" role="alert">{error}</p> : <p class="muted">Loading…</p>;
  const change = (patch: Partial<NotificationSettings>) => {
    setSettings({ ...settings, ...patch });
    setStatus('');
  };
  const quiet = settings.quiet_hours;
  async function save(e: Event) {
    e.preventDefault();
    setError('');
    try {
      setSettings(await store.api.setNotificationSettings(settings!));
      setStatus('Saved');
    } catch (err) {
      setError(message(err));
    }
  }
  return (
    <form class="stack" onSubmit={save}>
      <fieldset class="stack">
        <legend>Notify me of</legend>
        {LEVELS.map(([value, label]) => (
          <label class="check" key={value}>
            <input type="radio" name="level" value={value} checked={settings.level === value} onChange={() => change({ level: value })} />
            {label}
          </label>
        ))}
      </fieldset>
      <label>
        Show in notifications
        <select value={settings.preview} onChange={(e) => change({ preview: (e.target as HTMLSelectElement).value as PreviewLevel })}>
          {PREVIEWS.map(([value, label]) => (
            <option value={value} key={value}>
              {label}
            </option>
          ))}
        </select>
      </label>
      <fieldset class="stack">
        <legend>Quiet hours</legend>
        <label class="check">
          <input
            type="checkbox"
            checked={!!quiet}
            onChange={(e) =>
              change({
                quiet_hours: (e.target as HTMLInputElement).checked ? { start: '22:00', end: '07:00', time_zone: localTimeZone() } : null,
              })
            }
          />
          Arrive silently during quiet hours
        </label>
        {quiet && (
          <div class="row-fields">
            <label>
              From
              <input type="time" required value={quiet.start} onInput={(e) => change({ quiet_hours: { ...quiet, start: (e.target as HTMLInputElement).value } })} />
            </label>
            <label>
              To
              <input type="time" required value={quiet.end} onInput={(e) => change({ quiet_hours: { ...quiet, end: (e.target as HTMLInputElement).value } })} />
            </label>
            <label>
              Time zone
              <input required value={quiet.time_zone} onInput={(e) => change({ quiet_hours: { ...quiet, time_zone: (e.target as HTMLInputElement).value } })} />
            </label>
          </div>
        )}
      </fieldset>
      <div class="actions">
        <button type="submit" class="primary">
          Save
        </button>
        <FormStatus text={status} />
      </div>
      <FormError text={error} />
    </form>
  );
}

export function NotificationSettingsDialog({ onClose }: { onClose: () => void }) {
  return (
    <Modal title="Notifications" onClose={onClose}>
      <ThisDevice />
      <Preferences />
    </Modal>
  );
}
