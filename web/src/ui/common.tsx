import { useEffect, useState } from 'preact/hooks';
import { thumbHashToDataURL } from 'thumbhash';
import type { AvatarView, UserView, Uuid } from '../natter';
import { store } from '../store';
import { hue, initials } from './text';

// A user's picture (`UserView.avatar`): its small thumbnail through a signed URL that expires
// (docs/rest-routes.md "Avatars"). An image this page loaded stays in the browser's memory for
// the page's life, so the URL that loaded it is used again for that picture, expired or not;
// otherwise a URL expired (a user restored from the offline copy, an old event) or one that
// fails has the user fetched again for fresh ones, at most once a minute per user.
const loaded = new Map<Uuid, string>();
const placeholders = new Map<Uuid, string | undefined>();
const asked = new Map<Uuid, number>();
const ASK_EVERY_MS = 60_000;

/** The URL to show `picture` with now, if any. */
function pictureUrl(picture: AvatarView): string | undefined {
  return loaded.get(picture.file_id) ?? (picture.url_expires_at_ms > Date.now() ? picture.url_small : undefined);
}

/** The ThumbHash as a CSS background, decoded once per picture. */
function placeholder(picture: AvatarView): string | undefined {
  if (!placeholders.has(picture.file_id)) {
    let url: string | undefined;
    try {
      if (picture.thumbhash) url = `url(${thumbHashToDataURL(Uint8Array.from(atob(picture.thumbhash), (c) => c.charCodeAt(0)))})`;
    } catch {
      url = undefined;
    }
    placeholders.set(picture.file_id, url);
  }
  return placeholders.get(picture.file_id);
}

/** Fresh URLs for `id`'s picture: the user fetched again (me too, whose entry is separate). */
function askAgain(id: Uuid): void {
  const now = Date.now();
  if ((asked.get(id) ?? 0) > now - ASK_EVERY_MS) return;
  asked.set(id, now);
  store.api.user(id).then(
    (user) => {
      store.dispatch({ type: 'users', users: [user] });
      if (store.me?.id === user.id) store.dispatch({ type: 'me', me: user });
    },
    () => {},
  );
}

/**
 * A person (or a group): their picture when `user` has one, with its ThumbHash (or the initials)
 * behind it while it loads; the initials on a colour of their id otherwise. Decorative: the name
 * is always next to it.
 */
export function Avatar({ id, name, user, online, size = 36 }: { id: string; name: string; user?: UserView; online?: boolean; size?: number }) {
  const picture = user?.avatar;
  const src = picture && pictureUrl(picture);
  const [failed, setFailed] = useState<string | null>(null);
  useEffect(() => {
    if (user && picture && !src) askAgain(user.id);
  }, [picture?.url_small]);
  const shown = picture && src && src !== failed ? src : undefined;
  const behind = shown && picture ? placeholder(picture) : undefined;
  return (
    <span
      class={shown ? 'avatar with-picture' : 'avatar'}
      style={{ width: `${size}px`, height: `${size}px`, backgroundColor: `hsl(${hue(id)} 45% 30%)`, backgroundImage: behind }}
      aria-hidden="true"
    >
      {!behind && initials(name)}
      {shown && user && picture && (
        <img
          src={shown}
          alt=""
          decoding="async"
          onLoad={() => loaded.set(picture.file_id, shown)}
          onError={() => {
            if (loaded.get(picture.file_id) === shown) loaded.delete(picture.file_id);
            setFailed(shown);
            askAgain(user.id);
          }}
        />
      )}
      {online !== undefined && <span class={online ? 'dot online' : 'dot'} />}
    </span>
  );
}

export function presenceLabel(user: UserView | undefined): string {
  if (!user || user.online === undefined) return '';
  if (user.online) return 'online';
  if (!user.last_seen_ms) return 'offline';
  const mins = Math.round((Date.now() - user.last_seen_ms) / 60000);
  if (mins < 1) return 'last seen just now';
  if (mins < 60) return `last seen ${mins} min ago`;
  const hours = Math.round(mins / 60);
  if (hours < 24) return `last seen ${hours} h ago`;
  return `last seen ${new Date(user.last_seen_ms).toLocaleDateString()}`;
}

/** A size for people: `512 B`, `1.5 KB`, `12 MB` (powers of 1024). */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB'];
  let value = n / 1024;
  let i = 0;
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024;
    i++;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[i]}`;
}

/** A form's error, announced when it appears; nothing when there is none. */
export function FormError({ text, id }: { text: string | undefined; id?: string }) {
  return text ? (
    <p class="error" role="alert" id={id}>
      {text}
    </p>
  ) : null;
}

/** A form's status line beside its buttons ("Saved"), announced politely. */
export function FormStatus({ text }: { text: string }) {
  return (
    <span role="status" class="muted small-text">
      {text}
    </span>
  );
}
