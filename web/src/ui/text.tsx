// Safe rendering of user text: text nodes and <a> elements built by Preact, never innerHTML.
import type { ComponentChildren } from 'preact';

const TOKEN = /(https?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]}])|(@[A-Za-z0-9_.-]+)/g;

/** Text with clickable http(s) links and highlighted @mentions of known usernames. */
export function RichText({ text, mentionNames, myName }: { text: string; mentionNames: Set<string>; myName?: string }) {
  const out: ComponentChildren[] = [];
  let last = 0;
  for (const match of text.matchAll(TOKEN)) {
    const index = match.index ?? 0;
    if (index > last) out.push(text.slice(last, index));
    if (match[1]) {
      out.push(
        <a href={match[1]} target="_blank" rel="noopener noreferrer nofollow">
          {match[1]}
        </a>,
      );
    } else {
      const name = match[2].slice(1).toLowerCase();
      if (mentionNames.has(name)) {
        out.push(<span class={name === myName?.toLowerCase() ? 'mention me' : 'mention'}>{match[2]}</span>);
      } else out.push(match[2]);
    }
    last = index + match[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return <>{out}</>;
}

const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: 'long', month: 'long', day: 'numeric', year: 'numeric' });
const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const shortDate = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });

export function dayKey(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}`;
}

export function dayLabel(ms: number): string {
  const today = dayKey(Date.now());
  const yesterday = dayKey(Date.now() - 86_400_000);
  const key = dayKey(ms);
  if (key === today) return 'Today';
  if (key === yesterday) return 'Yesterday';
  return dayFormat.format(ms);
}

export const timeLabel = (ms: number) => timeFormat.format(ms);

/** For the conversation list: a time today, otherwise a date. */
export function whenLabel(ms: number): string {
  return dayKey(ms) === dayKey(Date.now()) ? timeFormat.format(ms) : shortDate.format(ms);
}

export function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  return ((parts[0]?.[0] ?? '?') + (parts[1]?.[0] ?? '')).toUpperCase();
}

/** A stable hue per id, for avatars. */
export function hue(id: string): number {
  let h = 0;
  for (let i = 0; i < id.length; i++) h = (h * 31 + id.charCodeAt(i)) % 360;
  return h;
}
