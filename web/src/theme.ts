// The colour theme: the user's choice (System, Light or Dark, in localStorage, per browser) applied
// as <html data-theme="light|dark">, which selects the palette in styles.css. "System" resolves
// to the system's scheme here and follows it when it changes, so the dark palette is written
// once, under [data-theme='dark']. main.tsx applies it before the first render.
export type Theme = 'system' | 'light' | 'dark';

const KEY = 'natter.theme';
const systemDark = typeof matchMedia === 'function' ? matchMedia('(prefers-color-scheme: dark)') : null;

/** Set by this page when localStorage refuses the choice (private mode). */
let unsaved: Theme | null = null;

export function themeChoice(): Theme {
  if (unsaved) return unsaved;
  try {
    const value = localStorage.getItem(KEY);
    return value === 'light' || value === 'dark' ? value : 'system';
  } catch {
    return 'system';
  }
}

/** The palette in use: the choice, or the system's scheme for "System". */
export function resolvedTheme(choice: Theme = themeChoice()): 'light' | 'dark' {
  if (choice !== 'system') return choice;
  return systemDark?.matches ? 'dark' : 'light';
}

export function applyTheme(): void {
  const root = document.documentElement;
  const theme = resolvedTheme();
  if (root.dataset.theme !== theme) root.dataset.theme = theme;
  // The browser's own chrome (a phone's status bar) takes the page's background.
  requestAnimationFrame(() => {
    const bg = getComputedStyle(root).getPropertyValue('--bg').trim();
    if (bg) for (const meta of document.querySelectorAll('meta[name="theme-color"]')) meta.setAttribute('content', bg);
  });
}

export function setTheme(choice: Theme): void {
  try {
    if (choice === 'system') localStorage.removeItem(KEY);
    else localStorage.setItem(KEY, choice);
    unsaved = null;
  } catch {
    unsaved = choice; // kept by this page until it reloads
  }
  applyTheme();
}

/** Applies the theme now and whenever the system's scheme or another tab's choice changes. */
export function followTheme(): void {
  applyTheme();
  systemDark?.addEventListener('change', applyTheme);
  window.addEventListener('storage', (e) => {
    if (e.key === KEY || e.key === null) applyTheme();
  });
}
