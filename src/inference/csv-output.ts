/** Writing CSV: fields quoted where RFC 4180 needs it, float32 values in their shortest exact form. */

/** A field, quoted when it holds a comma, quote, newline or surrounding spaces. */
export function csvField(text: string): string {
  return /[",\r\n]|^\s|\s$/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The shortest decimal that reads back as the same float32 (at most 9 significant digits). */
export function float32Text(value: number): string {
  const f = Math.fround(value);
  if (!Number.isFinite(f)) return String(f);
  for (let digits = 6; digits < 9; digits++) {
    const text = f.toPrecision(digits);
    if (Math.fround(Number(text)) === f) return String(Number(text));
  }
  return String(Number(f.toPrecision(9)));
}
