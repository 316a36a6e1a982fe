// An emoji picker: a grid of common emoji by group, moved through with the arrow keys, and a
// field that takes any other emoji (typed with the system's own picker or pasted). Used to react
// with any emoji and to put one into the composer. No names or search index: that would cost more
// than the whole app's JavaScript; the system picker (Win+., Ctrl+Cmd+Space) covers the rest.
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';

const GROUPS: [string, string][] = [
  ['Smileys', '😀😃😄😁😆😅🤣😂🙂🙃😉😊😇🥰😍🤩😘😋😛😜🤪🤗🤭🤫🤔😐😑😶🙄😏😬😌😔😴😷🤒🤯🥳😎🤓🧐😕😟😮😲😳🥺😢😭😱😖😞😓😩😫😤😡🤬💀👻🤖'],
  ['Gestures', '👍👎👌✌️🤞🤟🤘🤙👈👉👆👇☝️✋🤚🖐️🖖👋👏🙌👐🤲🙏🤝💪✍️👀🧠'],
  ['Hearts', '❤️🧡💛💚💙💜🖤🤍🤎💔❣️💕💞💓💗💖💘💝'],
  ['Things', '🎉🎊🎈🎁🏆🥇⭐🌟✨⚡🔥💯✅❌❓❗⚠️💡📌📎📅⏰☕🍕🍺🍻🥂🍰🌈☀️🌙☔❄️🌊🌸🌹🍀🐶🐱🦄🐛🚀✈️🚗🏠💻📱🎵🎮⚽'],
];

/** Splits a run of emoji into single emoji (grapheme clusters: flags, skin tones, ZWJ sequences). */
function graphemes(text: string): string[] {
  return [...new Intl.Segmenter(undefined, { granularity: 'grapheme' }).segment(text)].map((s) => s.segment);
}

/** One emoji, and nothing else: what a reaction may be. */
export function isOneEmoji(text: string): boolean {
  const parts = graphemes(text.trim());
  return parts.length === 1 && /\p{Extended_Pictographic}|\p{Regional_Indicator}/u.test(parts[0]);
}

const COLUMNS = 8;

export function EmojiPicker({ label, onPick, onClose }: { label: string; onPick: (emoji: string) => void; onClose: () => void }) {
  const grid = useRef<HTMLDivElement>(null);
  const [other, setOther] = useState('');
  useLayoutEffect(() => grid.current?.querySelector<HTMLButtonElement>('button')?.focus(), []);
  useEffect(() => {
    const away = (e: PointerEvent) => {
      if (!grid.current?.parentElement?.contains(e.target as Node)) onClose();
    };
    document.addEventListener('pointerdown', away);
    return () => document.removeEventListener('pointerdown', away);
  }, []);

  function onKeyDown(e: KeyboardEvent) {
    if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      onClose();
      return;
    }
    const buttons = [...(grid.current?.querySelectorAll<HTMLButtonElement>('button') ?? [])];
    const i = buttons.indexOf(document.activeElement as HTMLButtonElement);
    if (i < 0) return;
    const step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: COLUMNS, ArrowUp: -COLUMNS, Home: -i, End: buttons.length - 1 - i }[e.key];
    if (step === undefined) return;
    e.preventDefault();
    buttons[Math.max(0, Math.min(buttons.length - 1, i + step))].focus();
  }

  const ok = isOneEmoji(other);
  let first = true;
  const tabStop = () => (first ? ((first = false), 0) : -1);
  return (
    <div class="emoji-picker" role="dialog" aria-label={label} onKeyDown={onKeyDown}>
      <div ref={grid} class="emoji-groups">
        {GROUPS.map(([name, run]) => (
          <div key={name} role="group" aria-label={name}>
            <div class="emoji-group-name" aria-hidden="true">
              {name}
            </div>
            <div class="emoji-grid">
              {graphemes(run).map((emoji) => (
                <button key={emoji} type="button" class="icon emoji" tabIndex={tabStop()} aria-label={emoji} onClick={() => onPick(emoji)}>
                  {emoji}
                </button>
              ))}
            </div>
          </div>
        ))}
      </div>
      <form
        class="emoji-other"
        onSubmit={(e) => {
          e.preventDefault();
          if (ok) onPick(other.trim());
        }}
      >
        <input
          value={other}
          aria-label="Any other emoji"
          placeholder="Or type any emoji"
          aria-invalid={other !== '' && !ok}
          onInput={(e) => setOther((e.currentTarget as HTMLInputElement).value)}
        />
        <button type="submit" class="small" disabled={!ok}>
          Use
        </button>
      </form>
    </div>
  );
}
