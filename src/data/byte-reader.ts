/**
 * A stream's bytes in order, pulled in the sizes a parser asks for (IDX headers, tar blocks): the
 * caller stops reading when it has enough, so nothing past that is read or inflated.
 */
export class ByteReader {
  readonly #chunks: AsyncIterator<Buffer> | Iterator<Buffer>;
  #pending: Buffer = Buffer.alloc(0);
  #ended = false;

  constructor(stream: AsyncIterable<Buffer> | Iterable<Buffer>) {
    this.#chunks = Symbol.asyncIterator in stream ? stream[Symbol.asyncIterator]() : stream[Symbol.iterator]();
  }

  /**
   * Up to `count` bytes (fewer only at the end of the stream). Memory follows the bytes that
   * arrive, not `count`: a header that promises more than the file holds costs nothing extra.
   */
  async read(count: number): Promise<Uint8Array> {
    const parts: Buffer[] = [];
    let filled = 0;
    while (filled < count) {
      if (this.#pending.length === 0) {
        if (this.#ended) break;
        const next = await this.#chunks.next();
        if (next.done) {
          this.#ended = true;
          break;
        }
        this.#pending = next.value;
        continue;
      }
      const take = Math.min(count - filled, this.#pending.length);
      parts.push(this.#pending.subarray(0, take));
      this.#pending = this.#pending.subarray(take);
      filled += take;
    }
    return parts.length === 1 ? parts[0] : Buffer.concat(parts, filled);
  }

  /** Stops the stream (and the inflation behind it) without reading the rest. */
  async close(): Promise<void> {
    await this.#chunks.return?.();
  }
}
