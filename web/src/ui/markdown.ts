// A small, safe Markdown subset for message text, parsed into a tree that ui/text.tsx renders with
// Preact elements (never as HTML): **bold** / __bold__, *italic* / _italic_, ~~strike~~,
// `inline code`, ``` fenced code blocks ```, [text](url) and bare http(s) links, and @mentions.
//
// The rules, kept deliberately simple and predictable for chat:
// - A marker opens only when followed by a non-space and not preceded by a letter or digit, and
//   closes only when preceded by a non-space and not followed by a letter or digit; so 2*3*4,
//   snake_case_name and `a * b` stay as typed. An unclosed marker is literal text.
// - Code (inline or block) is verbatim: no formatting, links or mentions inside.
// - A fence opens at the start of a line: ``` with an optional language word, closed by the next
//   ``` (or longer) run. Without a closing fence it is literal.
// - Links may only be http:, https: or mailto: (anything else, such as javascript:, stays text);
//   a bare URL ends before trailing punctuation, and before a `)` it does not balance.
// - A backslash before one of \ ` * _ ~ [ ] ( ) @ makes that character literal.
// The work stays near linear on any input (no regex backtracking over the text): a scan either
// consumes what it reads or, when it fails, is remembered so it is not repeated (a backtick
// run's length, a fence's); link destinations come from one pass that pairs parentheses; and
// nesting is bounded (MAX_DEPTH).

export type MdNode =
  | { type: 'text'; text: string }
  | { type: 'strong' | 'em' | 'del'; children: MdNode[] }
  | { type: 'code'; text: string }
  | { type: 'codeblock'; text: string; lang?: string }
  | { type: 'link'; href: string; children: MdNode[] }
  /** `name` is what follows the @, as written; whether it names a member is the renderer's call. */
  | { type: 'mention'; name: string };

/** Open markers at once (formatting and link brackets); deeper ones stay literal. */
const MAX_DEPTH = 16;
/** The longest [text](destination) destination looked for. */
const MAX_DEST = 2048;
const ESCAPABLE = '\\`*_~[]()@';
const URL_START = /https?:\/\//iy;
const MENTION = /@[A-Za-z0-9_.-]+/y;
const FENCE_INFO = /([A-Za-z0-9_+#.-]{1,32})?[ \t]*\r?\n/y;
const SAFE_HREF = /^(?:https?:\/\/[^\s/?#]|mailto:\S)/i;
const SPACE = /\s/u;
const isSpace = (c: string) => c <= ' ' || (c >= '\u0080' && SPACE.test(c));
const WORD = /[\p{L}\p{N}]/u;
/** Characters that may start something other than plain text. */
const SPECIAL = new Set(['\\', '`', '*', '_', '~', '[', ']', '@', 'h', 'H']);
/** Not part of a bare URL at all. */
const URL_STOP = new Set(['<', '>', '"', '`', '[', ']']);
/** Not the last character of a bare URL. */
const URL_TRAIL = new Set(['.', ',', ';', ':', '!', '?', "'", '"', '*', '_', '~']);

/** Whether an href is one the app will link to. */
export function safeHref(href: string): boolean {
  return SAFE_HREF.test(href);
}

/** The message text as a tree of nodes; concatenating its text gives back what was typed, less
 * the markers and escapes it interpreted. */
export function parseMarkdown(src: string): MdNode[] {
  const out: MdNode[] = [];
  let seg = 0; // where the text not yet parsed begins
  let from = 0; // where to look for the next fence
  let failed = Infinity; // fences at least this long have no closing fence after `from`
  for (;;) {
    const p = nextFence(src, from);
    if (p < 0) break;
    let n = 3;
    while (src[p + n] === '`') n++;
    if (n >= failed) {
      from = p + n;
      continue;
    }
    FENCE_INFO.lastIndex = p + n;
    const info = FENCE_INFO.exec(src);
    const start = info ? p + n + info[0].length : p + n;
    const close = src.indexOf('`'.repeat(n), start);
    if (close < 0) {
      failed = n;
      from = p + n;
      continue;
    }
    let end = close + n;
    while (src[end] === '`') end++;
    let text = src.slice(start, close);
    if (text.endsWith('\n')) text = text.slice(0, text.endsWith('\r\n') ? -2 : -1);
    // The text before loses the line break the block makes anyway; so does the text after.
    for (const node of parseInline(src.slice(seg, Math.max(seg, p - 1)))) out.push(node);
    out.push(info?.[1] ? { type: 'codeblock', text, lang: info[1] } : { type: 'codeblock', text });
    let after = end;
    while (src[after] === ' ' || src[after] === '\t' || src[after] === '\r') after++;
    seg = after >= src.length ? src.length : src[after] === '\n' ? after + 1 : end;
    from = seg;
  }
  for (const node of parseInline(src.slice(seg))) out.push(node);
  return out;
}

/** The first index at or after `from` where a line starts with ```, or -1. */
function nextFence(src: string, from: number): number {
  if (from === 0 && src.startsWith('```')) return 0;
  const i = src.indexOf('\n```', Math.max(0, from - 1));
  return i < 0 ? -1 : i + 1;
}

type Marker = '*' | '_' | '~' | '[';
interface Frame {
  marker: Marker;
  /** How many marker characters opened it (1 or 2; a link bracket is 1). */
  len: number;
  children: MdNode[];
}

/** Appends a node, joining adjacent text. */
function add(children: MdNode[], node: MdNode) {
  const last = children[children.length - 1];
  if (node.type === 'text' && last?.type === 'text') {
    children[children.length - 1] = { type: 'text', text: last.text + node.text };
  } else if (node.type !== 'text' || node.text) {
    children.push(node);
  }
}

/** An unclosed frame becomes its marker as text followed by what it holds. */
function unwrap(frame: Frame, into: MdNode[]) {
  add(into, { type: 'text', text: frame.marker.repeat(frame.len) });
  for (const node of frame.children) add(into, node);
}

/** Links inside link text become their text (no link in a link). */
function unlink(nodes: MdNode[]): MdNode[] {
  const out: MdNode[] = [];
  for (const node of nodes) {
    if (node.type === 'link') for (const child of unlink(node.children)) add(out, child);
    else if (node.type === 'strong' || node.type === 'em' || node.type === 'del') add(out, { ...node, children: unlink(node.children) });
    else add(out, node);
  }
  return out;
}

/** The code point ending just before `i` (handles surrogate pairs), or '' at the start. */
function charBefore(s: string, i: number): string {
  if (i <= 0) return '';
  const c = s.charCodeAt(i - 1);
  return c >= 0xdc00 && c <= 0xdfff && i >= 2 ? s.slice(i - 2, i) : s[i - 1];
}

function charAt(s: string, i: number): string {
  if (i >= s.length) return '';
  return String.fromCodePoint(s.codePointAt(i)!);
}

/** For each `(` in `s`, the index of the `)` that balances it with no space, `<`, `>` or `"`
 * between (so a possible link destination), else -1. One pass, so links cost linear time. */
function closingParens(s: string): Int32Array {
  const match = new Int32Array(s.length).fill(-1);
  const open: number[] = [];
  for (let j = 0; j < s.length; j++) {
    const c = s[j];
    if (c === '(') open.push(j);
    else if (c === ')') {
      const o = open.pop();
      if (o !== undefined) match[o] = j;
    } else if (c === '<' || c === '>' || c === '"' || isSpace(c)) open.length = 0;
  }
  return match;
}

/** A bare URL starting at `i` (which starts with http:// or https://), trailing punctuation and
 * unbalanced closing parentheses left out; '' if nothing follows the scheme. */
function bareUrl(s: string, i: number): string {
  let j = i;
  let open = 0;
  let closed = 0;
  while (j < s.length && !URL_STOP.has(s[j]) && !isSpace(s[j])) {
    if (s[j] === '(') open++;
    else if (s[j] === ')') closed++;
    j++;
  }
  for (;;) {
    const c = s[j - 1];
    if (URL_TRAIL.has(c)) j--;
    else if (c === ')' && closed > open) {
      j--;
      closed--;
    } else break;
  }
  const url = s.slice(i, j);
  return /^https?:\/\/./i.test(url) ? url : '';
}

function parseInline(s: string): MdNode[] {
  const root: Frame = { marker: '[', len: 0, children: [] };
  const stack: Frame[] = [root];
  const failedTicks = new Set<number>(); // backtick runs with no closing run after this point
  let parens: Int32Array | undefined; // closingParens(s), once a link needs it
  let buf = '';
  const top = () => stack[stack.length - 1];
  const flush = () => {
    if (buf) add(top().children, { type: 'text', text: buf });
    buf = '';
  };
  const push = (node: MdNode) => {
    flush();
    add(top().children, node);
  };
  /** Removes the frame at `index`, its marker and content going to the frame below; frames above
   * it stay open. */
  const drop = (index: number) => {
    flush();
    unwrap(stack[index], stack[index - 1].children);
    stack.splice(index, 1);
  };
  /** Closes frames above `index` as literal text, then pops and returns the one at `index`. */
  const popTo = (index: number): Frame => {
    flush();
    while (stack.length - 1 > index) unwrap(stack.pop()!, top().children);
    return stack.pop()!;
  };
  /** The nearest open frame with this marker, not looking past a link bracket; or -1. */
  const nearest = (marker: Marker) => {
    for (let k = stack.length - 1; k > 0; k--) {
      if (stack[k].marker === marker) return k;
      if (stack[k].marker === '[') return -1;
    }
    return -1;
  };

  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (!SPECIAL.has(c)) {
      buf += c;
      i++;
      continue;
    }
    if (c === '\\') {
      if (i + 1 < s.length && ESCAPABLE.includes(s[i + 1])) {
        buf += s[i + 1];
        i += 2;
      } else {
        buf += c;
        i++;
      }
      continue;
    }
    if (c === '`') {
      let k = 1;
      while (s[i + k] === '`') k++;
      let close = -1;
      if (!failedTicks.has(k)) {
        for (let j = s.indexOf('`', i + k); j >= 0; ) {
          let m = 1;
          while (s[j + m] === '`') m++;
          if (m === k) {
            close = j;
            break;
          }
          j = s.indexOf('`', j + m);
        }
        if (close < 0) failedTicks.add(k);
      }
      if (close < 0) {
        buf += s.slice(i, i + k);
        i += k;
        continue;
      }
      let text = s.slice(i + k, close);
      if (text.startsWith(' ') && text.endsWith(' ') && text.trim()) text = text.slice(1, -1);
      push({ type: 'code', text });
      i = close + k;
      continue;
    }
    if (c === '*' || c === '_' || c === '~') {
      let k = 1;
      while (s[i + k] === c) k++;
      const usable = c === '~' ? k === 2 : k <= 3;
      if (!usable) {
        buf += s.slice(i, i + k);
        i += k;
        continue;
      }
      const before = charBefore(s, i);
      const after = charAt(s, i + k);
      const canOpen = after !== '' && !isSpace(after) && !WORD.test(before);
      const canClose = before !== '' && !isSpace(before) && !WORD.test(after);
      let left = k;
      if (canClose) {
        for (;;) {
          const at = nearest(c);
          if (at < 0 || stack[at].len > left) break;
          const frame = popTo(at);
          left -= frame.len;
          if (!frame.children.length) {
            unwrap(frame, top().children);
            add(top().children, { type: 'text', text: c.repeat(frame.len) });
          } else {
            const type = c === '~' ? 'del' : frame.len === 2 ? 'strong' : 'em';
            add(top().children, { type, children: frame.children });
          }
          if (!left) break;
        }
      }
      const frames = k === 3 ? 2 : 1;
      if (left === k && canOpen && stack.length - 1 + frames <= MAX_DEPTH) {
        flush();
        if (k === 3) stack.push({ marker: c, len: 1, children: [] }, { marker: c, len: 2, children: [] });
        else stack.push({ marker: c, len: k, children: [] });
      } else {
        buf += c.repeat(left);
      }
      i += k;
      continue;
    }
    if (c === '[') {
      if (stack.length - 1 < MAX_DEPTH) {
        flush();
        stack.push({ marker: '[', len: 1, children: [] });
      } else buf += c;
      i++;
      continue;
    }
    if (c === ']') {
      let at = -1;
      for (let k = stack.length - 1; k > 0; k--) {
        if (stack[k].marker === '[') {
          at = k;
          break;
        }
      }
      let dest: { href: string; end: number } | null = null;
      if (at > 0 && s[i + 1] === '(') {
        parens ??= closingParens(s);
        const close = parens[i + 1];
        if (close > i + 2 && close - i <= MAX_DEST) dest = { href: s.slice(i + 2, close), end: close + 1 };
      }
      if (dest && safeHref(dest.href)) {
        const frame = popTo(at);
        const children = unlink(frame.children);
        add(top().children, { type: 'link', href: dest.href, children: children.length ? children : [{ type: 'text', text: dest.href }] });
        // No link inside a link: the brackets still open around this one are plain text.
        for (let k = stack.length - 1; k > 0; k--) if (stack[k].marker === '[') drop(k);
        i = dest.end;
        continue;
      }
      if (at > 0) drop(at);
      buf += c;
      i++;
      continue;
    }
    if (c === '@') {
      MENTION.lastIndex = i;
      const m = MENTION.exec(s);
      if (m) {
        push({ type: 'mention', name: m[0].slice(1) });
        i += m[0].length;
      } else {
        buf += c;
        i++;
      }
      continue;
    }
    // 'h' or 'H': perhaps a bare URL.
    URL_START.lastIndex = i;
    const url = URL_START.test(s) ? bareUrl(s, i) : '';
    if (url) {
      push({ type: 'link', href: url, children: [{ type: 'text', text: url }] });
      i += url.length;
    } else {
      buf += c;
      i++;
    }
  }
  flush();
  while (stack.length > 1) unwrap(stack.pop()!, top().children);
  return root.children;
}

/** The text as it reads, markers gone: for one-line previews (the list, quotes, notifications). */
export function plainText(src: string): string {
  const flat = (nodes: MdNode[]): string =>
    nodes
      .map((n) => {
        switch (n.type) {
          case 'text':
          case 'code':
          case 'codeblock':
            return n.text;
          case 'mention':
            return `@${n.name}`;
          default:
            return flat(n.children);
        }
      })
      .join('');
  return flat(parseMarkdown(src));
}
