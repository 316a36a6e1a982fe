// What the user was writing in each conversation, kept across switching conversations, the
// phone's back button and reloads: in localStorage, under the signed-in user, forgotten at
// sign-out (a shared computer must not show the next person someone's unsent words).
const PREFIX = 'natter.drafts.';

function key(user: string): string {
  return PREFIX + user;
}

function all(user: string): Record<string, string> {
  try {
    const parsed: unknown = JSON.parse(localStorage.getItem(key(user)) ?? '{}');
    return parsed && typeof parsed === 'object' ? (parsed as Record<string, string>) : {};
  } catch {
    return {};
  }
}

export function draftOf(user: string, conversation: string): string {
  const text = all(user)[conversation];
  return typeof text === 'string' ? text : '';
}

export function keepDraft(user: string, conversation: string, text: string): void {
  const drafts = all(user);
  if (text) drafts[conversation] = text;
  else delete drafts[conversation];
  try {
    if (Object.keys(drafts).length) localStorage.setItem(key(user), JSON.stringify(drafts));
    else localStorage.removeItem(key(user));
  } catch {
    /* storage full or refused: the draft lives as long as the page */
  }
}

export function forgetDrafts(user: string): void {
  try {
    localStorage.removeItem(key(user));
  } catch {
    /* nothing kept */
  }
}
