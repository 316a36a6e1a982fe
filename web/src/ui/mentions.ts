// @mention autocomplete: which word the caret is in, and which members it could name.
import type { UserView } from '../natter/types.ts';
import { fold } from './fold.ts';

/** The `@word` the caret is at the end of (start index and query), if any. */
export function mentionAt(text: string, caret: number): { start: number; query: string } | null {
  const before = text.slice(0, caret);
  const m = /(^|[\s(])@([\p{L}\p{N}_.-]{0,32})$/u.exec(before);
  return m ? { start: caret - m[2].length - 1, query: m[2] } : null;
}

/** Members whose username, or a word of whose display name, begins with `query` (folded). */
export function mentionCandidates(users: readonly UserView[], query: string, limit = 8): UserView[] {
  const q = fold(query);
  const starts = (u: UserView) => fold(u.username).startsWith(q);
  const wordStarts = (u: UserView) => fold(u.display_name).split(/[^\p{L}\p{N}]+/u).some((w) => w.startsWith(q));
  return users
    .filter((u) => starts(u) || wordStarts(u))
    .sort((a, b) => Number(starts(b)) - Number(starts(a)) || a.username.localeCompare(b.username))
    .slice(0, limit);
}

/** The text with the `@query` at `start` replaced by `@username ` and where the caret goes. */
export function insertMention(text: string, start: number, caret: number, username: string): { text: string; caret: number } {
  const inserted = `@${username} `;
  return { text: text.slice(0, start) + inserted + text.slice(caret).replace(/^ /, ''), caret: start + inserted.length };
}
