/** The CLI flag that sets an option, for messages: batchSize -> --batch-size, reducedFrom -> --reduced-from. */
export function flagOf(key: string): string {
  return '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}
