/** Writing CSV: fields quoted where RFC 4180 needs it, float32 values in their shortest exact form. */

/** A field, quoted when it holds a comma, quote, newline or surrounding spaces. */
export function csvField(text: string): string {
  return /[",\r\n]|^\s|\s$/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The shortest decimal that reads back as the same float32 (at most 9 significant digits). */
export function float32Text(value: number): string {
  const f = Math.fround(value);
  if (!Number.isFinite(f)) return String(f);
  // Most float32 values need 8 or 9 digits: try 8 first, then fewer while they still read back.
  const exact = (digits: number): number | null => {
    const v = Number(f.toPrecision(digits));
    return Math.fround(v) === f ? v : null;
  };
  let best = exact(8);
  if (best === null) return String(Number(f.toPrecision(9)));
  for (let digits = 7; digits >= 1; digits--) {
    const shorter = exact(digits);
    if (shorter === null) break;
    best = shorter;
  }
  return String(best);
}
