// Safe rendering of user text: Preact elements built from ui/markdown.ts's tree (text nodes,
// <strong>, <em>, <del>, <code>, <pre>, <a> with a checked href), never innerHTML.
import type { ComponentChildren } from 'preact';
import { useMemo } from 'preact/hooks';
import { parseMarkdown, type MdNode } from './markdown';

/** Text with its Markdown subset, clickable http(s)/mailto links and highlighted @mentions of
 * known usernames (`mention me` when it names the signed-in user). */
export function RichText({ text, mentionNames, myName }: { text: string; mentionNames: Set<string>; myName?: string }) {
  const nodes = useMemo(() => parseMarkdown(text), [text]);
  return <>{render(nodes, mentionNames, myName?.toLowerCase())}</>;
}

function render(nodes: MdNode[], names: Set<string>, me: string | undefined): ComponentChildren[] {
  return nodes.map((node) => {
    switch (node.type) {
      case 'text':
        return node.text;
      case 'strong':
        return <strong>{render(node.children, names, me)}</strong>;
      case 'em':
        return <em>{render(node.children, names, me)}</em>;
      case 'del':
        return <del>{render(node.children, names, me)}</del>;
      case 'code':
        return <code>{node.text}</code>;
      case 'codeblock':
        // Focusable, so a block wider than the bubble can be scrolled from the keyboard.
        return (
          <pre class="code-block" dir="ltr" tabIndex={0}>
            <code class={node.lang ? `language-${node.lang}` : undefined}>{node.text}</code>
          </pre>
        );
      case 'link':
        return (
          <a href={node.href} target="_blank" rel="noopener noreferrer nofollow">
            {render(node.children, names, me)}
          </a>
        );
      case 'mention': {
        const name = node.name.toLowerCase();
        if (!names.has(name)) return `@${node.name}`;
        return <span class={name === me ? 'mention me' : 'mention'}>{`@${node.name}`}</span>;
      }
    }
  });
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
