/** Lower case, accents dropped, for matching what people type: "Éloïse" matches "elo". */
export function fold(text: string): string {
  return text.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase();
}
