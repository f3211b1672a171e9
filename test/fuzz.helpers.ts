/**
 * A seeded, corpus-based fuzzer for the parsers (issue 13 item 10). Inputs are valid files from a
 * small corpus mutated by stacked AFL-style "havoc" edits (bit flips, interesting integers,
 * dictionary tokens, splices, truncation). Inputs whose outcome (accepted, or the error code) is new
 * join the corpus, a cheap feedback that keeps mutants close to what the parser cares about. It is
 * not coverage-guided (see docs/reliability.md, "Fuzzing").
 *
 * Reproducible: one seed drives everything; DPTRAIN_FUZZ_SEED=<seed> replays a run input for input
 * (each target derives its own stream from the seed and its name). DPTRAIN_FUZZ_SCALE=<k> runs k
 * times the inputs (a longer local campaign).
 */
import { randomInt } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

/** The run's seed: DPTRAIN_FUZZ_SEED, or a fresh one (printed by the tests so a failure can be replayed). */
export const FUZZ_SEED = process.env.DPTRAIN_FUZZ_SEED !== undefined ? Number(process.env.DPTRAIN_FUZZ_SEED) >>> 0 : randomInt(2 ** 32);
export const FUZZ_SCALE = Number(process.env.DPTRAIN_FUZZ_SCALE ?? 1);

/** mulberry32: a small, fast, seedable PRNG; returns integers in [0, n). */
export function prng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

/** FNV-1a of a name, to give each target its own stream from one seed. */
function hashName(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

const INTERESTING_8 = [0, 1, 0x7f, 0x80, 0xff, 0x20, 0x0a, 0x0d, 0x22, 0x2c, 0x3b, 0x09, 0x7b, 0x7d, 0x5b, 0x5d];
const INTERESTING_32 = [0, 1, 2, 3, 7, 8, 255, 256, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff, 2 ** 28, 2 ** 28 + 1];

/** Applies 1–8 stacked havoc edits to `input`; `other` is another corpus entry to splice from. */
export function mutate(input: Uint8Array, other: Uint8Array, dictionary: readonly Uint8Array[], int: (n: number) => number): Uint8Array {
  let out = Buffer.from(input);
  for (let k = 1 + int(8); k > 0; k--) {
    const at = int(out.length + 1);
    switch (int(11)) {
      case 0: // flip one bit
        if (out.length > 0) out[int(out.length)] ^= 1 << int(8);
        break;
      case 1: // an interesting byte
        if (out.length > 0) out[int(out.length)] = INTERESTING_8[int(INTERESTING_8.length)];
        break;
      case 2: // a random byte
        if (out.length > 0) out[int(out.length)] = int(256);
        break;
      case 3: { // an interesting 32- or 64-bit integer, either endianness
        const v = INTERESTING_32[int(INTERESTING_32.length)];
        const word = Buffer.alloc(int(2) === 0 ? 4 : 8);
        if (word.length === 4) (int(2) === 0 ? word.writeUInt32LE(v) : word.writeUInt32BE(v));
        else word.writeBigUInt64LE(BigInt(v) * (int(4) === 0 ? 2n ** 32n : 1n));
        if (out.length >= word.length) word.copy(out, int(out.length - word.length + 1));
        break;
      }
      case 4: // insert a dictionary token
        out = Buffer.concat([out.subarray(0, at), dictionary[int(dictionary.length)], out.subarray(at)]);
        break;
      case 5: // overwrite with a dictionary token
        if (out.length > 0) {
          const token = dictionary[int(dictionary.length)];
          out = Buffer.concat([out.subarray(0, at), token, out.subarray(Math.min(out.length, at + token.length))]);
        }
        break;
      case 6: // delete a range
        out = Buffer.concat([out.subarray(0, at), out.subarray(Math.min(out.length, at + 1 + int(16)))]);
        break;
      case 7: { // duplicate a range
        const len = 1 + int(32);
        out = Buffer.concat([out.subarray(0, at), out.subarray(at, at + len), out.subarray(at)]);
        break;
      }
      case 8: { // splice in part of another input
        const from = int(other.length + 1);
        out = Buffer.concat([out.subarray(0, at), other.subarray(from, from + 1 + int(64)), out.subarray(at)]);
        break;
      }
      case 9: // truncate
        out = out.subarray(0, at);
        break;
      default: // append random bytes
        out = Buffer.concat([out, Buffer.from(Array.from({ length: 1 + int(8) }, () => int(256)))]);
    }
  }
  return out;
}

export interface FuzzTarget {
  name: string;
  /** Valid inputs to start from. */
  corpus: Uint8Array[];
  /** Tokens the format is made of, inserted by the mutator. */
  dictionary: (string | Uint8Array)[];
  /** Inputs to run (times DPTRAIN_FUZZ_SCALE). */
  inputs: number;
  /** Stop early after this long, whatever the count. */
  budgetMs: number;
  /**
   * Parses one input and checks its invariants. Returns the outcome ("ok" or the error code) for
   * a refusal the target expects; throws (or returns a rejected promise) on anything else.
   */
  run(input: Uint8Array): string | Promise<string>;
}

export interface FuzzReport {
  name: string;
  seed: number;
  inputs: number;
  ms: number;
  corpus: number;
  /** Inputs by outcome. */
  outcomes: Record<string, number>;
}

/**
 * Runs a target from its own seeded stream. A failure throws an Error naming the seed, the input's
 * index and a file holding the input (in the OS temp directory).
 */
export async function fuzz(target: FuzzTarget, seed = FUZZ_SEED): Promise<FuzzReport> {
  const int = prng(seed ^ hashName(target.name));
  const dictionary = target.dictionary.map((t) => (typeof t === 'string' ? Buffer.from(t, 'latin1') : t));
  const corpus = [...target.corpus];
  const outcomes: Record<string, number> = Object.create(null);
  const started = performance.now();
  const total = Math.round(target.inputs * FUZZ_SCALE);
  let n = 0;
  for (; n < total && performance.now() - started < target.budgetMs * FUZZ_SCALE; n++) {
    // One in 16 inputs is a corpus entry as is; the rest are mutants.
    const base = corpus[int(corpus.length)];
    const input = int(16) === 0 ? base : mutate(base, corpus[int(corpus.length)], dictionary, int);
    let outcome: string;
    try {
      outcome = await target.run(input);
    } catch (error) {
      const file = path.join(os.tmpdir(), `dptrain-fuzz-${target.name}-${seed}-${n}.bin`);
      fs.writeFileSync(file, input);
      throw new Error(
        `fuzz target ${target.name} failed on input ${n} (seed ${seed}; replay with DPTRAIN_FUZZ_SEED=${seed}; the input is in ${file}): ${(error as Error)?.stack ?? String(error)}`,
      );
    }
    if (outcomes[outcome] === undefined && corpus.length < 256) corpus.push(input); // a new outcome: keep it
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
  }
  return { name: target.name, seed, inputs: n, ms: Math.round(performance.now() - started), corpus: corpus.length, outcomes };
}
