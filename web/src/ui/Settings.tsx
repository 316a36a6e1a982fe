// The "Settings" dialog: my display name (PATCH /users/me) beside my avatar, my picture (a file
// uploaded with tus, then PATCH /users/me avatar_file_id; removed with null), the theme
// (theme.ts, this browser only), a way to the notification settings, changing the password
// (POST /auth/password: the other sessions are signed out), and my sessions (GET /auth/sessions,
// DELETE /auth/sessions/{id} for another one).
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, Upload, type SessionView, type UserView } from '../natter';
import { store, useSelector } from '../store';
import { setTheme, themeChoice, type Theme } from '../theme';
import { Avatar, FormError, FormStatus } from './common';
import { Modal } from './Dialogs';

const message = (e: unknown) => (e instanceof ApiError || e instanceof Error ? e.message : 'Something went wrong');
/** The server's messages start in lower case ("password is too easy to guess: …"). */
const sentence = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

export function SettingsDialog({ onClose, onNotifications }: { onClose: () => void; onNotifications: () => void }) {
  // Bumped when the password changes: the other sessions are gone.
  const [sessionsVersion, setSessionsVersion] = useState(0);
  return (
    <Modal title="Settings" onClose={onClose}>
      <Profile />
      <Appearance />
      <section class="settings-section" aria-labelledby="settings-notifications">
        <h3 id="settings-notifications">Notifications</h3>
        <p class="muted small-text">Push on this device, what to be notified of, and quiet hours.</p>
        <button type="button" aria-haspopup="dialog" onClick={onNotifications}>
          Notification settings…
        </button>
      </section>
      <Password onChanged={() => setSessionsVersion((v) => v + 1)} />
      <Sessions version={sessionsVersion} />
    </Modal>
  );
}

function Profile() {
  const me = useSelector((s) => s.me);
  const [name, setName] = useState(me?.display_name ?? '');
  const [busy, setBusy] = useState(false);
  const [status, setStatus] = useState('');
  const [error, setError] = useState('');
  if (!me) return null;
  const wanted = name.trim();
  async function save(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError('');
    setStatus('');
    try {
      const user = await store.rename(wanted);
      setName(user.display_name);
      setStatus('Saved');
    } catch (err) {
      setError(sentence(message(err)));
    } finally {
      setBusy(false);
    }
  }
  return (
    <form class="settings-section stack" onSubmit={save} aria-labelledby="settings-profile">
      <h3 id="settings-profile">Profile</h3>
      <div class="profile-card">
        <Avatar id={me.id} name={wanted || me.username} user={me} size={48} />
        <div class="grow">
          <strong class="profile-name">{me.display_name || me.username}</strong>
          <div class="muted small-text">@{me.username}</div>
        </div>
      </div>
      <Picture me={me} />
      <label>
        Display name
        <input
          value={name}
          required
          maxLength={64}
          autoFocus
          autoComplete="name"
          aria-invalid={error ? 'true' : undefined}
          onInput={(e) => {
            setName((e.target as HTMLInputElement).value);
            setStatus('');
          }}
        />
      </label>
      <div class="actions">
        <button type="submit" class="primary" disabled={busy || !wanted || wanted === me.display_name}>
          Save name
        </button>
        <FormStatus text={status} />
      </div>
      <FormError text={error} />
    </form>
  );
}

/** The picture types the server makes thumbnails of, so accepts as an avatar. */
const PICTURE_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'];

/** My new profile, at once (the `user.updated` of my own change follows). */
function profileChanged(user: UserView): void {
  store.dispatch({ type: 'users', users: [user] });
  store.dispatch({ type: 'me', me: user });
}

/** Why a picture was refused, for people: the server's refusal names the field and the file id. */
function pictureError(err: unknown): string {
  if (err instanceof ApiError && err.code === 'invalid' && err.message.includes('not a picture')) {
    return 'This file is not a picture natter can show: choose a PNG, JPEG, GIF or WebP image.';
  }
  // An image that does not decode, one too large in pixels or bytes, the quota: said as it is.
  return sentence(message(err));
}

/** "Change picture" (uploads it with tus, then makes it my avatar) and "Remove picture". */
function Picture({ me }: { me: UserView }) {
  const picker = useRef<HTMLInputElement>(null);
  const [upload, setUpload] = useState<Upload | null>(null);
  const [sent, setSent] = useState(0);
  const [busy, setBusy] = useState(false);
  const [status, setStatus] = useState('');
  const [error, setError] = useState('');
  useEffect(() => () => upload?.cancel(), [upload]);

  async function run(work: () => Promise<UserView>, done: string) {
    setBusy(true);
    setError('');
    setStatus('');
    try {
      profileChanged(await work());
      setStatus(done);
    } catch (err) {
      setError(pictureError(err));
    } finally {
      setBusy(false);
    }
  }

  function choose(file: File) {
    if (file.type && !PICTURE_TYPES.includes(file.type)) {
      setStatus('');
      setError('Choose a PNG, JPEG, GIF or WebP picture.');
      return;
    }
    void run(async () => {
      const started = new Upload(store.api, file, file.name || 'picture');
      setUpload(started);
      setSent(0);
      const stop = started.subscribe(() => setSent(started.sent));
      try {
        return await store.api.setAvatar(await started.done);
      } finally {
        stop();
        setUpload(null);
      }
    }, 'Picture changed');
  }

  return (
    <div class="stack picture">
      <div class="actions picture-actions">
        <input
          ref={picker}
          type="file"
          accept={PICTURE_TYPES.join(',')}
          hidden
          onChange={(e) => {
            const input = e.target as HTMLInputElement;
            const file = input.files?.[0];
            input.value = '';
            if (file) choose(file);
          }}
        />
        <button type="button" class="small" disabled={busy} onClick={() => picker.current?.click()}>
          Change picture
        </button>
        {me.avatar && (
          <button type="button" class="small" disabled={busy} onClick={() => void run(() => store.api.setAvatar(null), 'Picture removed')}>
            Remove picture
          </button>
        )}
        {upload && <progress max={upload.total || 1} value={sent} aria-label="Uploading the picture" />}
        <FormStatus text={status} />
      </div>
      <FormError text={error} />
    </div>
  );
}

const THEMES: [Theme, string][] = [
  ['system', 'System'],
  ['light', 'Light'],
  ['dark', 'Dark'],
];

function Appearance() {
  const [theme, setChoice] = useState(themeChoice);
  return (
    <fieldset class="settings-section theme-choices">
      <legend>Theme</legend>
      {THEMES.map(([value, label]) => (
        <label class="check" key={value}>
          <input
            type="radio"
            name="theme"
            value={value}
            checked={theme === value}
            onChange={() => {
              setTheme(value);
              setChoice(value);
            }}
          />
          {label}
        </label>
      ))}
    </fieldset>
  );
}

type PasswordField = 'current' | 'next' | 'confirm';

function Password({ onChanged }: { onChanged: () => void }) {
  const me = useSelector((s) => s.me);
  const [values, setValues] = useState<Record<PasswordField, string>>({ current: '', next: '', confirm: '' });
  const [busy, setBusy] = useState(false);
  const [status, setStatus] = useState('');
  const [error, setError] = useState<{ field: PasswordField | null; text: string } | null>(null);
  async function change(e: Event) {
    e.preventDefault();
    setStatus('');
    if (values.next !== values.confirm) {
      setError({ field: 'confirm', text: 'The new passwords do not match.' });
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await store.api.changePassword(values.current, values.next);
      setValues({ current: '', next: '', confirm: '' });
      setStatus('Password changed. Your other sessions were signed out.');
      onChanged();
    } catch (err) {
      if (err instanceof ApiError && err.code === 'bad_credentials') setError({ field: 'current', text: 'The current password is not right.' });
      else if (err instanceof ApiError && err.status === 429) {
        const seconds = Math.max(1, Math.ceil((err.retryAfterMs ?? 1000) / 1000));
        setError({ field: null, text: `Too many attempts. Try again in ${seconds} s.` });
      } else if (err instanceof ApiError && (err.code === 'weak_password' || err.code === 'invalid')) {
        // The server says why: "password is too easy to guess: This is a top-10 common password".
        setError({ field: 'next', text: sentence(err.message) });
      } else setError({ field: null, text: sentence(message(err)) });
    } finally {
      setBusy(false);
    }
  }
  const field = (name: PasswordField, label: string, extra: Record<string, unknown> = {}, hint?: string) => (
    <label>
      {label}
      <input
        type="password"
        required
        value={values[name]}
        aria-invalid={error?.field === name ? 'true' : undefined}
        aria-describedby={[hint, error?.field === name ? 'password-error' : ''].filter(Boolean).join(' ') || undefined}
        onInput={(e) => {
          setValues({ ...values, [name]: (e.target as HTMLInputElement).value });
          if (error?.field === name) setError(null);
        }}
        {...extra}
      />
    </label>
  );
  return (
    <form class="settings-section stack" onSubmit={change} aria-labelledby="settings-password">
      <h3 id="settings-password">Change password</h3>
      {/* For password managers: which account this is. */}
      <input type="text" name="username" autoComplete="username" value={me?.username ?? ''} readOnly hidden />
      {field('current', 'Current password', { autoComplete: 'current-password' })}
      {field('next', 'New password', { autoComplete: 'new-password', minLength: 8, maxLength: 256 }, 'password-hint')}
      <p id="password-hint" class="hint small-text">
        At least 8 characters and hard to guess. Your other sessions will be signed out.
      </p>
      {field('confirm', 'Confirm new password', { autoComplete: 'new-password' })}
      <div class="actions">
        <button type="submit" disabled={busy || !values.current || !values.next || !values.confirm}>
          Change password
        </button>
        <FormStatus text={status} />
      </div>
      <FormError text={error?.text} id="password-error" />
    </form>
  );
}

const dateFormat = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: 'numeric' });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

function ago(ms: number): string {
  const mins = Math.round((Date.now() - ms) / 60000);
  if (mins < 1) return 'just now';
  if (mins < 60) return `${mins} min ago`;
  const hours = Math.round(mins / 60);
  if (hours < 24) return `${hours} h ago`;
  return dateFormat.format(ms);
}

/** The web app signs in as "web"; other clients name their device (the server's default: "unnamed device"). */
const deviceLabel = (name: string) => (name === 'web' ? 'Web browser' : sentence(name || 'unnamed device'));

function Sessions({ version }: { version: number }) {
  const [sessions, setSessions] = useState<SessionView[] | null>(null);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState<string | null>(null);
  const load = () =>
    store.api
      .sessions()
      .then((list) => {
        setSessions([...list].sort((a, b) => Number(b.current) - Number(a.current) || b.last_used_at_ms - a.last_used_at_ms));
        setError('');
      })
      .catch((e) => setError(sentence(message(e))));
  useEffect(() => void load(), [version]);
  async function signOut(s: SessionView) {
    setBusy(s.id);
    setError('');
    try {
      await store.api.revokeSession(s.id);
      await load();
    } catch (e) {
      setError(sentence(message(e)));
    } finally {
      setBusy(null);
    }
  }
  return (
    <section class="settings-section stack" aria-labelledby="settings-sessions">
      <h3 id="settings-sessions">Sessions and devices</h3>
      {sessions === null ? (
        !error && <p class="muted">Loading…</p>
      ) : (
        <ul class="sessions" aria-labelledby="settings-sessions">
          {sessions.map((s) => {
            const label = deviceLabel(s.device_name);
            const since = dateTimeFormat.format(s.created_at_ms);
            return (
              <li key={s.id} class="session" data-current={s.current ? 'true' : undefined}>
                <span class="grow">
                  <strong>{label}</strong>
                  {s.current && <span class="tag">This device</span>}
                  <br />
                  <small class="muted">
                    Signed in {since} · {s.current ? 'active now' : `last active ${ago(s.last_used_at_ms)}`}
                  </small>
                </span>
                {!s.current && (
                  <button class="small danger" disabled={busy === s.id} aria-label={`Sign out ${label}, signed in ${since}`} onClick={() => void signOut(s)}>
                    Sign out
                  </button>
                )}
              </li>
            );
          })}
        </ul>
      )}
      <FormError text={error} />
    </section>
  );
}
