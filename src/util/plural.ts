/** `1 epoch`, `2 epochs`, `1,024 steps`: a count with its noun in the right number (English). */
export function plural(count: number, singular: string, pluralForm = `${singular}s`): string {
  return `${count.toLocaleString('en-US')} ${count === 1 ? singular : pluralForm}`;
}
