/**
 * What the CLI may draw on a stream: colour only on a terminal and without NO_COLOR
 * (https://no-color.org: set and not empty disables colour); an in-place progress line only on
 * a terminal that can move the cursor (not TERM=dumb).
 */

/** True when colour escapes may be written to `stream`. */
export function colorEnabled(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(stream.isTTY) && !env.NO_COLOR && env.TERM !== 'dumb';
}

/** True when a progress line may be redrawn in place on `stream`. */
export function interactive(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(stream.isTTY) && env.TERM !== 'dumb';
}
