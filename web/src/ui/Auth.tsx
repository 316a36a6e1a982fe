import { useState } from 'preact/hooks';
import { ApiError } from '../natter';
import { store } from '../store';

export function Auth() {
  const [mode, setMode] = useState<'in' | 'up'>('in');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  async function submit(event: Event) {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    setBusy(true);
    setError('');
    try {
      await store.signIn(
        mode,
        String(form.get('username') ?? '').trim(),
        String(form.get('password') ?? ''),
        String(form.get('display_name') ?? '').trim() || undefined,
      );
    } catch (e) {
      setError(
        e instanceof ApiError
          ? e.code === 'bad_credentials' || e.code === 'unauthenticated'
            ? 'Wrong username or password.'
            : e.code === 'conflict'
              ? 'That username is taken.'
              : e.message
          : 'Something went wrong.',
      );
    } finally {
      setBusy(false);
    }
  }

  return (
    <main class="auth">
      <form class="auth-card" onSubmit={submit} aria-labelledby="auth-title">
        <div class="brand" aria-hidden="true">
          <span class="logo">n</span> natter
        </div>
        <h1 id="auth-title">{mode === 'in' ? 'Sign in' : 'Create your account'}</h1>
        <label>
          Username
          <input name="username" autoComplete="username" required minLength={3} maxLength={32} autoFocus />
        </label>
        {mode === 'up' && (
          <label>
            Display name <span class="hint">(optional)</span>
            <input name="display_name" autoComplete="name" maxLength={64} />
          </label>
        )}
        <label>
          Password
          <input
            name="password"
            type="password"
            autoComplete={mode === 'in' ? 'current-password' : 'new-password'}
            required
            minLength={mode === 'up' ? 8 : 1}
          />
        </label>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button class="primary" type="submit" disabled={busy}>
          {mode === 'in' ? 'Sign in' : 'Sign up'}
        </button>
        <p class="switch">
          {mode === 'in' ? 'New to natter?' : 'Already have an account?'}{' '}
          <button type="button" class="link" onClick={() => (setMode(mode === 'in' ? 'up' : 'in'), setError(''))}>
            {mode === 'in' ? 'Create an account' : 'Sign in'}
          </button>
        </p>
      </form>
    </main>
  );
}
