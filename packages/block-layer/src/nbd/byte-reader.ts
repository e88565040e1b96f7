/**
 * An append-only byte queue for incremental parsers: chunks arrive split anywhere, parsers
 * peek at fixed-size headers and consume a frame only once all of it is present.
 */
export class ByteReader {
  private buf = new Uint8Array(4096);
  private start = 0;
  private end = 0;

  /** Bytes buffered and not yet consumed. */
  get available(): number {
    return this.end - this.start;
  }

  append(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    if (this.end + chunk.length > this.buf.length) this.makeRoom(chunk.length);
    this.buf.set(chunk, this.end);
    this.end += chunk.length;
  }

  /** A view of the next `length` bytes without consuming them (valid until the next append). */
  peek(length: number): DataView {
    return new DataView(this.buf.buffer, this.buf.byteOffset + this.start, length);
  }

  /** Consumes `length` bytes and returns them as a copy the caller owns. */
  take(length: number): Uint8Array {
    const out = this.buf.slice(this.start, this.start + length);
    this.skip(length);
    return out;
  }

  skip(length: number): void {
    this.start += length;
    if (this.start === this.end) {
      this.start = 0;
      this.end = 0;
    }
  }

  /** Everything left, consumed (hand-over to the next phase's parser). */
  takeAll(): Uint8Array {
    return this.take(this.available);
  }

  private makeRoom(extra: number): void {
    const used = this.end - this.start;
    const needed = used + extra;
    if (needed <= this.buf.length && this.start > 0) {
      this.buf.copyWithin(0, this.start, this.end);
    } else {
      let size = this.buf.length;
      while (size < needed) size *= 2;
      const grown = new Uint8Array(size);
      grown.set(this.buf.subarray(this.start, this.end));
      this.buf = grown;
    }
    this.start = 0;
    this.end = used;
  }
}

/** A growable writer for building frames. */
export class FrameWriter {
  private buf: Uint8Array;
  private view: DataView;
  private pos = 0;

  constructor(capacity = 64) {
    this.buf = new Uint8Array(capacity);
    this.view = new DataView(this.buf.buffer);
  }

  u8(value: number): this {
    this.ensure(1);
    this.view.setUint8(this.pos, value);
    this.pos += 1;
    return this;
  }

  u16(value: number): this {
    this.ensure(2);
    this.view.setUint16(this.pos, value);
    this.pos += 2;
    return this;
  }

  u32(value: number): this {
    this.ensure(4);
    this.view.setUint32(this.pos, value >>> 0);
    this.pos += 4;
    return this;
  }

  u64(value: bigint | number): this {
    this.ensure(8);
    this.view.setBigUint64(this.pos, BigInt(value));
    this.pos += 8;
    return this;
  }

  bytes(data: Uint8Array): this {
    this.ensure(data.length);
    this.buf.set(data, this.pos);
    this.pos += data.length;
    return this;
  }

  /** A string as UTF-8, without a length. */
  text(value: string): this {
    return this.bytes(new TextEncoder().encode(value));
  }

  /** A u32 byte length followed by the UTF-8 string. */
  lengthText(value: string): this {
    const data = new TextEncoder().encode(value);
    return this.u32(data.length).bytes(data);
  }

  get length(): number {
    return this.pos;
  }

  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  private ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + extra) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.buf.subarray(0, this.pos));
    this.buf = grown;
    this.view = new DataView(grown.buffer);
  }
}

/** Reads fields in order from a complete payload; throws {@link RangeError} when it runs short. */
export class PayloadCursor {
  private readonly view: DataView;
  private pos = 0;

  constructor(private readonly data: Uint8Array) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  get remaining(): number {
    return this.data.length - this.pos;
  }

  u16(): number {
    const v = this.view.getUint16(this.pos);
    this.pos += 2;
    return v;
  }

  u32(): number {
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  u64(): bigint {
    const v = this.view.getBigUint64(this.pos);
    this.pos += 8;
    return v;
  }

  bytes(length: number): Uint8Array {
    if (length > this.remaining) throw new RangeError('payload too short');
    const out = this.data.subarray(this.pos, this.pos + length);
    this.pos += length;
    return out;
  }

  text(length: number): string {
    return new TextDecoder('utf-8', { fatal: true }).decode(this.bytes(length));
  }

  rest(): Uint8Array {
    return this.bytes(this.remaining);
  }
}
