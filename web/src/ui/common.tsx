import type { UserView } from '../natter';
import { hue, initials } from './text';

export function Avatar({ id, name, online, size = 36 }: { id: string; name: string; online?: boolean; size?: number }) {
  return (
    <span class="avatar" style={{ width: `${size}px`, height: `${size}px`, background: `hsl(${hue(id)} 45% 30%)` }} aria-hidden="true">
      {initials(name)}
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
