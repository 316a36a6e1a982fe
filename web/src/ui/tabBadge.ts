// The unread count outside the page: in the tab's title ("(3) natter") and as a badge drawn on
// the favicon, so a background tab says there is something new. Muted conversations do not
// count, as in the list's own badges.

const TITLE = 'natter';
const ICON = '/icon.svg';
let shown = -1;
let icon: HTMLImageElement | null = null;

export function showUnread(total: number): void {
  if (total === shown) return;
  shown = total;
  const label = total > 99 ? '99+' : String(total);
  document.title = total ? `(${label}) ${TITLE}` : TITLE;
  const link = document.querySelector<HTMLLinkElement>('link[rel="icon"]');
  if (!link) return;
  if (!total) {
    link.type = 'image/svg+xml';
    link.href = ICON;
    return;
  }
  const draw = () => {
    if (shown !== total || !icon) return;
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = 64;
    const g = canvas.getContext('2d');
    if (!g) return;
    g.drawImage(icon, 0, 0, 64, 64);
    g.fillStyle = '#d92b2b';
    g.beginPath();
    g.arc(44, 20, 20, 0, 2 * Math.PI);
    g.fill();
    g.fillStyle = '#ffffff';
    g.font = `bold ${label.length > 2 ? 18 : 26}px sans-serif`;
    g.textAlign = 'center';
    g.textBaseline = 'middle';
    g.fillText(label, 44, 21);
    link.type = 'image/png';
    link.href = canvas.toDataURL('image/png');
  };
  if (icon?.complete) return draw();
  icon = new Image();
  icon.onload = draw;
  icon.src = ICON;
}
