/**
 * A TCP proxy for fault tests (docs/reliability.md): one listening port on
 * 127.0.0.1 that pipes every connection to a target port, and can
 *   - cut: destroy both sockets of the next client-to-target WebSocket frame of at least
 *     `minPayload` bytes, halfway through its payload (a socket cut mid-frame);
 *   - partition (all connections) or hold (one): stop forwarding in both directions while keeping
 *     the sockets open (reads are paused, so unsent bytes wait in the kernel as they would behind
 *     a broken route, and a peer's FIN or reset is held back too): a half-open connection or a
 *     network partition;
 *   - heal / release: forward again, delivering what waited, and pass on the held-back closes;
 *   - show each WebSocket frame to a hook (decoded with the transport's codec) just before its
 *     last bytes are forwarded; the hook may hold the connection, inject bytes right after the
 *     frame (a replay), or act once the frame has been written (kill its sender).
 * Both directions are parsed as WebSocket frames after the HTTP upgrade, so a cut is known to
 * land inside a frame and an injection between two.
 */
import net from 'node:net';
import { Codec } from '../src/transport/codec.js';

export interface CutReport {
  /** Payload length of the frame that was cut, bytes. */
  payloadBytes: number;
  /** Bytes of that payload the target received before both sockets were destroyed. */
  deliveredBytes: number;
}

/** up: client to target (worker to coordinator); down: target to client. */
export type Direction = 'up' | 'down';

export interface ProxyFrame {
  opcode: number;
  /** The frame's bytes as they crossed the proxy (masked, when up). */
  raw: Buffer;
  /** The decoded message of a binary frame, or null. */
  message: Record<string, unknown> | null;
}

/** What a frame hook may ask for: bytes to write right after the frame, and a call once it is written. */
export type FrameVerdict = { inject?: Buffer; then?: () => void } | void;
export type FrameHook = (frame: ProxyFrame, direction: Direction, link: ProxyLink) => FrameVerdict;

const codec = new Codec();

/** Splits one direction's byte stream into the HTTP head and WebSocket frames. */
class FrameTracker {
  #http = true;
  #httpTail = '';
  #header: number[] = [];
  #headerBytes = 0;
  #pieces: Buffer[] = [];
  /** Payload bytes left in the current frame. */
  #remaining = 0;
  #payloadBytes = 0;
  #inPayload = false;

  /**
   * Advances over `chunk` and returns, in order, the offsets in `chunk` where frames end (with
   * the frame) and, when `cutAt` is given, the offset halfway through the payload of the first
   * frame of at least `cutAt` bytes whose midpoint lies in this chunk (nothing after it).
   */
  feed(chunk: Buffer, cutAt?: number): { ends: { offset: number; frame: ProxyFrame }[]; cut: (CutReport & { offset: number }) | null } {
    const ends: { offset: number; frame: ProxyFrame }[] = [];
    let i = 0;
    if (this.#http) {
      const text = this.#httpTail + chunk.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) {
        this.#httpTail = text.slice(-3);
        return { ends, cut: null };
      }
      this.#http = false;
      i = end + 4 - this.#httpTail.length;
    }
    let start = i;
    while (i < chunk.length) {
      if (this.#inPayload) {
        const done = this.#payloadBytes - this.#remaining;
        const take = Math.min(this.#remaining, chunk.length - i);
        const half = this.#payloadBytes >> 1;
        if (cutAt !== undefined && this.#payloadBytes >= cutAt && done <= half && half < done + take) {
          return { ends, cut: { offset: i + (half - done), payloadBytes: this.#payloadBytes, deliveredBytes: half } };
        }
        this.#remaining -= take;
        i += take;
      } else {
        this.#header.push(chunk[i++]);
        const h = this.#header;
        if (h.length < 2) continue;
        const len7 = h[1] & 0x7f;
        const extBytes = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
        this.#headerBytes = 2 + extBytes + (h[1] & 0x80 ? 4 : 0);
        if (h.length < this.#headerBytes) continue;
        this.#payloadBytes = extBytes === 2 ? (h[2] << 8) | h[3] : extBytes === 8 ? Number(Buffer.from(h.slice(2, 10)).readBigUInt64BE()) : len7;
        this.#remaining = this.#payloadBytes;
        this.#inPayload = true;
      }
      if (this.#inPayload && this.#remaining === 0) {
        this.#pieces.push(chunk.subarray(start, i));
        start = i;
        ends.push({ offset: i, frame: this.#finish() });
      }
    }
    if (start < chunk.length) this.#pieces.push(Buffer.from(chunk.subarray(start)));
    return { ends, cut: null };
  }

  #finish(): ProxyFrame {
    const raw = Buffer.concat(this.#pieces);
    const h = this.#header;
    this.#pieces = [];
    this.#header = [];
    this.#inPayload = false;
    const opcode = h[0] & 0x0f;
    const payload = Buffer.from(raw.subarray(this.#headerBytes));
    if (h[1] & 0x80) {
      const mask = raw.subarray(this.#headerBytes - 4, this.#headerBytes);
      for (let k = 0; k < payload.length; k++) payload[k] ^= mask[k & 3];
    }
    let message: Record<string, unknown> | null = null;
    if (opcode === 2) {
      try {
        message = codec.decode(payload) as Record<string, unknown>;
      } catch {
        message = null;
      }
    }
    return { opcode, raw, message };
  }
}

/** One proxied connection. */
export class ProxyLink {
  readonly client: net.Socket;
  readonly target: net.Socket;
  readonly trackers = { up: new FrameTracker(), down: new FrameTracker() };
  /** Bytes that arrived while held, per direction, and closes held back. */
  readonly waiting = { up: [] as Buffer[], down: [] as Buffer[], closes: [] as (() => void)[] };
  #held = false;
  #gone = false;

  constructor(client: net.Socket, target: net.Socket) {
    this.client = client;
    this.target = target;
  }

  get held(): boolean {
    return this.#held;
  }

  get gone(): boolean {
    return this.#gone;
  }

  /** Stops forwarding on this connection (both directions), keeping its sockets open. */
  hold(): void {
    this.#held = true;
    this.client.pause();
    this.target.pause();
  }

  /** Forwards again: the bytes that waited first, then the held-back closes. */
  release(): void {
    this.#held = false;
    for (const piece of this.waiting.up.splice(0)) this.write('up', piece);
    for (const piece of this.waiting.down.splice(0)) this.write('down', piece);
    for (const run of this.waiting.closes.splice(0)) run();
    if (!this.client.destroyed) this.client.resume();
    if (!this.target.destroyed) this.target.resume();
  }

  write(direction: Direction, piece: Buffer, then?: () => void): void {
    if (this.#held) {
      this.waiting[direction].push(piece);
      return;
    }
    const to = direction === 'up' ? this.target : this.client;
    if (!to.destroyed) to.write(piece, then && (() => then()));
  }

  destroy(): void {
    this.#gone = true;
    this.client.destroy();
    this.target.destroy();
  }
}

export class TcpProxy {
  readonly #server: net.Server;
  readonly #targetPort: number;
  readonly links = new Set<ProxyLink>();
  #partitioned = false;
  #cut: { minPayload: number; resolve: (r: CutReport) => void } | null = null;
  /** Sees every frame of every connection (see FrameHook). */
  onFrame: FrameHook | null = null;
  /** Connections accepted so far. */
  connections = 0;

  private constructor(server: net.Server, targetPort: number) {
    this.#server = server;
    this.#targetPort = targetPort;
    server.on('connection', (client) => this.#accept(client));
  }

  /** Listens on a free port of 127.0.0.1 and forwards to 127.0.0.1:`targetPort`. */
  static async start(targetPort: number): Promise<TcpProxy> {
    const server = net.createServer({ pauseOnConnect: true });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new TcpProxy(server, targetPort);
  }

  get port(): number {
    return (this.#server.address() as net.AddressInfo).port;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/`;
  }

  /** Resolves when the next client-to-target frame of ≥ `minPayload` bytes has been cut halfway. */
  cutNextFrame(minPayload: number): Promise<CutReport> {
    return new Promise((resolve) => (this.#cut = { minPayload, resolve }));
  }

  /** Stops forwarding on every connection, present and future, without closing anything. */
  partition(): void {
    this.#partitioned = true;
    for (const link of this.links) link.hold();
  }

  /** Forwards again everywhere (see ProxyLink.release). */
  heal(): void {
    this.#partitioned = false;
    for (const link of [...this.links]) link.release();
  }

  async close(): Promise<void> {
    for (const link of this.links) link.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: net.Socket): void {
    this.connections += 1;
    const target = net.connect(this.#targetPort, '127.0.0.1');
    target.pause();
    // As ws does: small frames (a `step`, a pong) must not wait for Nagle's algorithm.
    client.setNoDelay(true);
    target.setNoDelay(true);
    const link = new ProxyLink(client, target);
    this.links.add(link);
    if (this.#partitioned) link.hold();
    const forward = (direction: Direction, chunk: Buffer) => {
      if (link.gone) return;
      const cut = direction === 'up' ? this.#cut : null;
      const { ends, cut: hit } = link.trackers[direction].feed(chunk, cut?.minPayload);
      let from = 0;
      for (const { offset, frame } of ends) {
        const verdict = this.onFrame?.(frame, direction, link);
        link.write(direction, chunk.subarray(from, offset), verdict?.then);
        if (verdict?.inject) link.write(direction, verdict.inject);
        from = offset;
      }
      if (hit && cut) {
        this.#cut = null;
        link.write('up', chunk.subarray(from, hit.offset), () => {
          link.destroy();
          this.links.delete(link);
          cut.resolve({ payloadBytes: hit.payloadBytes, deliveredBytes: hit.deliveredBytes });
        });
        return;
      }
      if (from < chunk.length) link.write(direction, chunk.subarray(from));
    };
    const closeLater = (run: () => void) => (link.held ? link.waiting.closes.push(run) : run());
    client.on('data', (chunk: Buffer) => forward('up', chunk));
    target.on('data', (chunk: Buffer) => forward('down', chunk));
    client.on('end', () => closeLater(() => target.destroyed || target.end()));
    target.on('end', () => closeLater(() => client.destroyed || client.end()));
    // A reset is passed on at once; a clean close after the bytes before it are written.
    const gone = (hadError: boolean) =>
      closeLater(() => {
        this.links.delete(link);
        if (hadError) return link.destroy();
        client.end();
        target.end();
        setTimeout(() => link.destroy(), 1_000).unref();
      });
    client.on('close', gone);
    target.on('close', gone);
    client.on('error', () => {});
    target.on('error', () => {});
    target.once('connect', () => {
      if (link.held) return;
      client.resume();
      target.resume();
    });
  }
}
