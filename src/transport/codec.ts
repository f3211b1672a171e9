/**
 * The wire codec: msgpackr configured for untrusted peers (docs/reliability.md).
 *
 * - Typed arrays travel as binary: `moreTypes: true` writes one as msgpackr's typed-array extension
 *   (0x74), which decodes back to a typed array, never to a list of numbers or a Buffer; a
 *   Float32Array of 64 KiB or more is written 8-byte aligned instead (aligned-arrays.ts), and
 *   decodes to a view of the received frame. Encoding copies the array once into the frame (into a
 *   caller's reusable buffer when given one: Link's send buffers for large messages); decoding a
 *   large one copies nothing (ws copies once when a frame spans several socket reads), a small one
 *   once.
 * - No records and no shared structures: `useRecords: false`, and the pre-scan refuses in-band
 *   record definitions, so one frame can never change how the next one decodes.
 * - `mapsAsObjects`: maps become plain objects; keys `__proto__`, `constructor` and `prototype`
 *   are refused by the pre-scan, so a decoded object cannot touch a prototype.
 * - The frame size is checked first, then frame-scan.ts bounds depth, header lengths and element
 *   counts without allocating; only then does msgpackr decode.
 * Every refusal is a `TransportError('badFrame')` whose `reason` is counted in `rejections`.
 */
import { Packr, Unpackr } from 'msgpackr';
import './aligned-arrays.js';
import { TransportError } from './errors.js';
import { scanFrame, type FrameRejection, type ScanLimits } from './frame-scan.js';
import { defaultLimits } from './limits.js';

export type { FrameRejection } from './frame-scan.js';

export interface CodecLimits extends ScanLimits {
  /** Largest frame in bytes, for encoding and decoding. */
  maxPayload: number;
}

/** Counts of refused frames and messages by reason (`badFrame:lengthTooLarge`, `badMessage:wrongLength`). */
export class RejectionCounts {
  readonly #counts = new Map<string, number>();

  add(reason: string): void {
    this.#counts.set(reason, (this.#counts.get(reason) ?? 0) + 1);
  }

  get(reason: string): number {
    return this.#counts.get(reason) ?? 0;
  }

  get total(): number {
    let sum = 0;
    for (const n of this.#counts.values()) sum += n;
    return sum;
  }

  /** A plain object, reasons sorted, for logs and tests. */
  toJSON(): Record<string, number> {
    return Object.fromEntries([...this.#counts].sort(([a], [b]) => a.localeCompare(b)));
  }
}

const describe: Record<FrameRejection, string> = {
  empty: 'the frame is empty',
  tooLarge: 'the frame is larger than maxPayload',
  notBinary: 'the frame is a text frame (dptrain sends binary frames only)',
  truncated: 'the frame ends in the middle of a value',
  trailingBytes: 'the frame holds bytes after its one value',
  tooDeep: 'arrays and maps nest deeper than maxDepth',
  lengthTooLarge: 'a length header claims more than the frame holds or than maxCollectionLength',
  tooManyElements: 'the frame holds more array elements and map entries than maxTotalElements',
  badToken: 'the frame holds the reserved byte 0xc1',
  badExtension: 'the frame holds a msgpack extension other than typed arrays',
  recordDefinition: 'the frame defines a msgpackr record (records are refused)',
  badTypedArray: 'a typed array has an unknown type or a byte length that is not a multiple of its element size',
  badKey: 'a map key is not a string of at most maxKeyBytes bytes',
  forbiddenKey: 'a map key is __proto__, constructor or prototype',
  badUtf8: 'a string is not valid UTF-8',
  decodeFailed: 'msgpackr could not decode the frame',
};

/** Encodes and decodes frames. One per connection (it holds that connection's counters). */
export class Codec {
  readonly limits: Readonly<CodecLimits>;
  readonly rejections: RejectionCounts;
  readonly #packr: Packr;
  readonly #unpackr: Unpackr;

  constructor(limits: Partial<CodecLimits> = {}, rejections: RejectionCounts = new RejectionCounts()) {
    this.limits = Object.freeze({
      maxPayload: limits.maxPayload ?? defaultLimits.maxPayload,
      maxDepth: limits.maxDepth ?? defaultLimits.maxDepth,
      maxCollectionLength: limits.maxCollectionLength ?? defaultLimits.maxCollectionLength,
      maxTotalElements: limits.maxTotalElements ?? defaultLimits.maxTotalElements,
      maxKeyBytes: limits.maxKeyBytes ?? defaultLimits.maxKeyBytes,
    });
    this.rejections = rejections;
    this.#packr = new Packr({
      moreTypes: true,
      useRecords: false,
      structuredClone: false,
      bundleStrings: false,
      // a JS object's keys are written as a map header of the right size
      variableMapSize: true,
    });
    this.#unpackr = new Unpackr({
      useRecords: false,
      mapsAsObjects: true,
      structuredClone: false,
      bundleStrings: false,
      sequential: false,
      // counts and ids stay below 2^53; a bigint would surprise every caller
      int64AsType: 'number',
      // bin values (nonces) are copied out so they do not pin the whole frame
      copyBuffers: true,
    });
  }

  /**
   * One message to one frame. Throws `payloadTooLarge` above maxPayload. The returned bytes are a
   * view into msgpackr's output buffer; msgpackr never writes over bytes it has handed out. With
   * `into`, the frame is written at the start of `into` instead when it fits (the caller checks
   * `frame.buffer === into.buffer`; else msgpackr grew into a buffer of its own), and the caller
   * owns `into` again once the frame is sent.
   */
  encode(message: unknown, into?: Buffer): Buffer {
    let frame: Buffer;
    if (into) {
      this.#packr.useBuffer(into);
      try {
        frame = this.#packr.pack(message);
      } finally {
        // msgpackr's output buffer is module-wide: detach `into` so that no later frame (of any
        // Codec) is written into it while it is in flight or after it is reused.
        this.#packr.useBuffer(Buffer.allocUnsafeSlow(8192));
      }
    } else frame = this.#packr.pack(message);
    if (frame.length > this.limits.maxPayload) {
      throw new TransportError(
        'payloadTooLarge',
        `message of ${frame.length} bytes exceeds maxPayload (${this.limits.maxPayload} bytes); send it in chunks`,
        { reason: 'tooLarge' },
      );
    }
    return frame;
  }

  /** One frame to one value (not yet schema-checked). Throws `badFrame` with a counted `reason`. */
  decode(frame: Uint8Array, maxPayload = this.limits.maxPayload): unknown {
    if (!(frame instanceof Uint8Array)) this.#refuse('notBinary');
    if (frame.length > maxPayload) this.#refuse('tooLarge', `${frame.length} > ${maxPayload} bytes`);
    const problem = scanFrame(frame, this.limits);
    if (problem !== null) this.#refuse(problem);
    try {
      return this.#unpackr.unpack(frame);
    } catch (error) {
      this.#refuse('decodeFailed', error instanceof Error ? error.message : String(error), error);
    }
  }

  /** Counts a text frame (ws delivers it separately) and throws. */
  refuseText(): never {
    this.#refuse('notBinary');
  }

  #refuse(reason: FrameRejection, detail?: string, cause?: unknown): never {
    this.rejections.add(`badFrame:${reason}`);
    throw new TransportError('badFrame', `bad frame (${reason}): ${describe[reason]}${detail ? ` (${detail})` : ''}`, {
      reason,
      cause,
    });
  }
}
