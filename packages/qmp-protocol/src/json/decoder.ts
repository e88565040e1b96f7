import { JsonParseError } from '../errors.js';
import { type JsonToken, JsonLexer } from './lexer.js';
import type { JsonValue } from './json-value.js';
import { parseTokens } from './parser.js';
import { decodeLenient } from './unicode.js';

/** Bounds on what one message may cost; the defaults are QEMU's. */
export interface JsonDecoderLimits {
  /** Largest single token in bytes (a string, a number). Default 64 MiB. */
  readonly maxTokenSize?: number;
  /** Largest message (all its tokens) in bytes. Default 64 MiB. */
  readonly maxMessageSize?: number;
  /** Most tokens in one message. Default 2 Mi. */
  readonly maxTokenCount?: number;
  /** Deepest nesting of objects and arrays together. Default 1024. */
  readonly maxDepth?: number;
}

/** What the decoder yields: a complete value, or an error standing for the input it discarded. */
export type DecodedMessage =
  | { readonly kind: 'value'; readonly value: JsonValue }
  | { readonly kind: 'error'; readonly error: JsonParseError };

/** QEMU's own bounds for one JSON message. */
export const QEMU_JSON_LIMITS: Required<JsonDecoderLimits> = {
  maxTokenSize: 64 * 1024 * 1024,
  maxMessageSize: 64 * 1024 * 1024,
  maxTokenCount: 2 * 1024 * 1024,
  maxDepth: 1024,
};

/**
 * Incremental decoder for a QMP input stream: bytes split anywhere, values back to back with or
 * without whitespace between them. A message ends when its brackets balance (or a closing bracket
 * has nothing to close); any error discards the message in progress, is reported once, and decoding
 * continues with the next bytes. No I/O here: callers feed chunks and take messages.
 */
export class JsonStreamDecoder {
  private readonly lexer: JsonLexer;
  private readonly limits: Required<JsonDecoderLimits>;
  private tokens: JsonToken[] = [];
  private braces = 0;
  private brackets = 0;
  private size = 0;
  private output: DecodedMessage[] = [];

  constructor(limits: JsonDecoderLimits = {}) {
    this.limits = { ...QEMU_JSON_LIMITS, ...limits };
    this.lexer = new JsonLexer((token) => this.onToken(token), this.limits.maxTokenSize);
  }

  /** Feeds a chunk and returns the messages it completed, in order. */
  feed(chunk: Uint8Array): DecodedMessage[] {
    this.lexer.feed(chunk);
    const done = this.output;
    this.output = [];
    return done;
  }

  /** Bytes held for the message in progress (for back-pressure decisions). */
  get pendingBytes(): number {
    return this.size;
  }

  private onToken(token: JsonToken | JsonParseError): void {
    if (token instanceof JsonParseError) {
      this.fail(token);
      return;
    }
    switch (token.type) {
      case 'lcurly':
        this.braces++;
        break;
      case 'rcurly':
        this.braces--;
        break;
      case 'lsquare':
        this.brackets++;
        break;
      case 'rsquare':
        this.brackets--;
        break;
      case 'error':
        this.fail(new JsonParseError('lexical', `JSON parse error, stray '${decodeLenient(token.bytes)}'`));
        return;
      default:
        break;
    }
    if (this.size + token.bytes.length + 1 > this.limits.maxMessageSize) {
      this.fail(new JsonParseError('message-size', 'JSON token size limit exceeded'));
      return;
    }
    if (this.tokens.length + 1 > this.limits.maxTokenCount) {
      this.fail(new JsonParseError('token-count', 'JSON token count limit exceeded'));
      return;
    }
    if (this.braces + this.brackets > this.limits.maxDepth) {
      this.fail(new JsonParseError('nesting', 'JSON nesting depth limit exceeded'));
      return;
    }
    this.tokens.push(token);
    this.size += token.bytes.length;
    if ((this.braces > 0 || this.brackets > 0) && this.braces >= 0 && this.brackets >= 0) return;
    const tokens = this.tokens;
    this.clear();
    try {
      this.output.push({ kind: 'value', value: parseTokens(tokens) });
    } catch (error) {
      if (!(error instanceof JsonParseError)) throw error;
      this.output.push({ kind: 'error', error });
    }
  }

  private fail(error: JsonParseError): void {
    this.clear();
    this.output.push({ kind: 'error', error });
  }

  private clear(): void {
    this.tokens = [];
    this.braces = 0;
    this.brackets = 0;
    this.size = 0;
  }
}
