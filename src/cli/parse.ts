/** Flag value parsers: strings from the command line into typed values, with messages that name the flag. */
import type { Command } from 'commander';
import { ConfigError, shown } from '../errors.js';

/**
 * The options the user gave (on the command line or through an environment variable), without
 * commander's defaults: only these may conflict or be warned about (docs/cli.md, "Defaults and
 * explicit options").
 */
export function explicitOptions(command: Command): Record<string, unknown> {
  const options = command.opts();
  return Object.fromEntries(
    Object.entries(options).filter(([key]) => {
      const source = command.getOptionValueSource(key);
      return source !== undefined && source !== 'default' && source !== 'implied';
    }),
  );
}

function invalid(flag: string, raw: string, expected: string): ConfigError {
  return new ConfigError('badOption', `${flag} must be ${expected} (got ${shown(raw)})`);
}

/** A decimal or scientific number; rejects "", "0x10", "1e", "NaN" and "Infinity". */
export function parseNumber(flag: string, raw: string): number {
  const trimmed = raw.trim();
  const value = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(trimmed) ? Number(trimmed) : Number.NaN;
  if (!Number.isFinite(value)) throw invalid(flag, raw, 'a finite number');
  return value;
}

export function parseInteger(flag: string, raw: string): number {
  const trimmed = raw.trim();
  if (!/^[-+]?\d+$/.test(trimmed)) throw invalid(flag, raw, 'an integer');
  const value = Number(trimmed);
  if (!Number.isSafeInteger(value)) throw invalid(flag, raw, 'an integer');
  return value;
}

/**
 * `--heartbeat-timeout SECONDS` (coordinator and worker), in ms: 1 s to 1 hour. Below a second a
 * loaded host's event-loop stall would end healthy connections.
 */
export function parseHeartbeatTimeout(raw: string): number {
  const seconds = parseNumber('--heartbeat-timeout', raw);
  if (!(seconds >= 1 && seconds <= 3_600)) throw invalid('--heartbeat-timeout', raw, 'a number of seconds from 1 to 3600');
  return Math.round(seconds * 1000);
}

/** `--batch-size N|full`. */
export function parseBatchSize(flag: string, raw: string): number | 'full' {
  if (raw.trim().toLowerCase() === 'full') return 'full';
  const trimmed = raw.trim();
  if (!/^[-+]?\d+$/.test(trimmed)) throw invalid(flag, raw, 'a positive integer or "full"');
  return Number(trimmed);
}

/** --batch-size: an integer, "full", or "auto" (chosen while training). */
export function parseTrainBatchSize(flag: string, raw: string): number | 'full' | 'auto' {
  if (raw.trim().toLowerCase() === 'auto') return 'auto';
  const trimmed = raw.trim();
  if (trimmed.toLowerCase() !== 'full' && !/^[-+]?\d+$/.test(trimmed)) throw invalid(flag, raw, 'a positive integer, "full" or "auto"');
  return parseBatchSize(flag, raw);
}

export function parseChoice<T extends string>(flag: string, raw: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(raw)) throw invalid(flag, raw, `one of ${allowed.join(', ')}`);
  return raw as T;
}
