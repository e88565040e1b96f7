import { JsonParseError } from '../errors.js';

/** Token kinds produced by {@link JsonLexer}; `error` carries the bytes that could not be lexed. */
export type JsonTokenType =
  | 'lcurly'
  | 'rcurly'
  | 'lsquare'
  | 'rsquare'
  | 'colon'
  | 'comma'
  | 'integer'
  | 'float'
  | 'keyword'
  | 'string'
  | 'error';

/** One lexical token with its raw bytes (strings still quoted and escaped). */
export interface JsonToken {
  readonly type: JsonTokenType;
  readonly bytes: Uint8Array;
}

/** Receives tokens, or a bound violation detected inside the lexer. */
export type TokenSink = (token: JsonToken | JsonParseError) => void;

// Lexer states. QEMU's lexer is a byte-driven state machine; these follow the same grammar:
// RFC 8259 plus single-quoted strings, with error recovery that skips to a structural byte.
enum State {
  Start,
  Recovery,
  DqString,
  DqEscape,
  SqString,
  SqEscape,
  Zero,
  Sign,
  Digits,
  Mantissa,
  MantissaDigits,
  ExpE,
  ExpSign,
  ExpDigits,
  Keyword,
}

const SINGLE_BYTE_TOKENS: Record<number, JsonTokenType> = {
  123: 'lcurly',
  125: 'rcurly',
  91: 'lsquare',
  93: 'rsquare',
  58: 'colon',
  44: 'comma',
};

const isDigit = (b: number): boolean => b >= 0x30 && b <= 0x39;
const isWhitespace = (b: number): boolean => b === 0x20 || b === 0x09 || b === 0x0d || b === 0x0a;
/** Bytes allowed inside a string body: no control characters and never 0xFE/0xFF. */
const isStringByte = (b: number): boolean => b >= 0x20 && b <= 0xfd;
/** Where error recovery stops: structural characters, control characters but tab, 0xFE, 0xFF. */
const endsRecovery = (b: number): boolean =>
  (b < 0x20 && b !== 0x09) ||
  b >= 0xfe ||
  b === 0x5b ||
  b === 0x5d ||
  b === 0x7b ||
  b === 0x7d ||
  b === 0x3a ||
  b === 0x2c;

/**
 * Incremental JSON lexer: feed it bytes split anywhere, it emits tokens as they complete. A byte
 * that cannot continue the current token ends it with an `error` token holding everything read so
 * far, then bytes are skipped until a structural character or a control byte, where lexing
 * restarts (clients use 0xFF or a control byte to resynchronise, as QMP's specification says).
 */
export class JsonLexer {
  private state: State = State.Start;
  private token: Uint8Array = new Uint8Array(64);
  private length = 0;

  constructor(
    private readonly sink: TokenSink,
    private readonly maxTokenSize: number,
  ) {}

  /** Lex a chunk of input. */
  feed(chunk: Uint8Array): void {
    for (let i = 0; i < chunk.length; i++) {
      this.feedByte(chunk[i]!);
    }
  }

  /** Forget any half-read token (used when the connection restarts). */
  reset(): void {
    this.state = State.Start;
    this.length = 0;
  }

  private feedByte(b: number): void {
    // A terminal that needs lookahead does not consume the byte: loop until it is consumed.
    for (;;) {
      switch (this.state) {
        case State.Start:
          if (isWhitespace(b)) return;
          {
            const single = SINGLE_BYTE_TOKENS[b];
            if (single !== undefined) {
              this.append(b);
              this.emit(single);
              return;
            }
          }
          if (b === 0x22) {
            this.enter(State.DqString, b);
            return;
          }
          if (b === 0x27) {
            this.enter(State.SqString, b);
            return;
          }
          if (b === 0x30) {
            this.enter(State.Zero, b);
            return;
          }
          if (b >= 0x31 && b <= 0x39) {
            this.enter(State.Digits, b);
            return;
          }
          if (b === 0x2d) {
            this.enter(State.Sign, b);
            return;
          }
          if (b >= 0x61 && b <= 0x7a) {
            this.enter(State.Keyword, b);
            return;
          }
          this.fail(b);
          return;
        case State.Recovery:
          if (endsRecovery(b)) {
            this.state = State.Start;
            continue;
          }
          return;
        case State.DqString:
        case State.SqString: {
          if (!isStringByte(b)) {
            this.fail(b);
            return;
          }
          const quote = this.state === State.DqString ? 0x22 : 0x27;
          this.append(b);
          if (b === quote) {
            this.emit('string');
            return;
          }
          if (b === 0x5c) this.state = this.state === State.DqString ? State.DqEscape : State.SqEscape;
          this.checkSize();
          return;
        }
        case State.DqEscape:
        case State.SqEscape:
          if (!isStringByte(b)) {
            this.fail(b);
            return;
          }
          this.append(b);
          this.state = this.state === State.DqEscape ? State.DqString : State.SqString;
          this.checkSize();
          return;
        case State.Zero:
          if (isDigit(b)) {
            this.fail(b);
            return;
          }
          if (b === 0x2e) {
            this.enter(State.Mantissa, b);
            return;
          }
          this.emit('integer');
          continue;
        case State.Sign:
          if (b === 0x30) {
            this.enter(State.Zero, b);
            return;
          }
          if (b >= 0x31 && b <= 0x39) {
            this.enter(State.Digits, b);
            return;
          }
          this.fail(b);
          return;
        case State.Digits:
          if (isDigit(b)) {
            this.enter(State.Digits, b);
            return;
          }
          if (b === 0x65 || b === 0x45) {
            this.enter(State.ExpE, b);
            return;
          }
          if (b === 0x2e) {
            this.enter(State.Mantissa, b);
            return;
          }
          this.emit('integer');
          continue;
        case State.Mantissa:
          if (isDigit(b)) {
            this.enter(State.MantissaDigits, b);
            return;
          }
          this.fail(b);
          return;
        case State.MantissaDigits:
          if (isDigit(b)) {
            this.enter(State.MantissaDigits, b);
            return;
          }
          if (b === 0x65 || b === 0x45) {
            this.enter(State.ExpE, b);
            return;
          }
          this.emit('float');
          continue;
        case State.ExpE:
          if (b === 0x2b || b === 0x2d) {
            this.enter(State.ExpSign, b);
            return;
          }
          if (isDigit(b)) {
            this.enter(State.ExpDigits, b);
            return;
          }
          this.fail(b);
          return;
        case State.ExpSign:
          if (isDigit(b)) {
            this.enter(State.ExpDigits, b);
            return;
          }
          this.fail(b);
          return;
        case State.ExpDigits:
          if (isDigit(b)) {
            this.enter(State.ExpDigits, b);
            return;
          }
          this.emit('float');
          continue;
        case State.Keyword:
          if (b >= 0x61 && b <= 0x7a) {
            this.enter(State.Keyword, b);
            return;
          }
          this.emit('keyword');
          continue;
      }
    }
  }

  private enter(state: State, b: number): void {
    this.state = state;
    this.append(b);
    this.checkSize();
  }

  /** The offending byte belongs to the error token, as in QEMU's "stray '...'" message. */
  private fail(b: number): void {
    this.append(b);
    this.emit('error');
    this.state = State.Recovery;
  }

  private emit(type: JsonTokenType): void {
    const bytes = this.token.slice(0, this.length);
    this.length = 0;
    this.state = State.Start;
    this.sink({ type, bytes });
  }

  private checkSize(): void {
    if (this.length > this.maxTokenSize) {
      // A single token may not grow without bound; drop it and start over, like QEMU.
      this.length = 0;
      this.state = State.Start;
      this.sink(new JsonParseError('token-size', 'JSON token size limit exceeded'));
    }
  }

  private append(b: number): void {
    if (this.length === this.token.length) {
      const grown = new Uint8Array(this.token.length * 2);
      grown.set(this.token);
      this.token = grown;
    }
    this.token[this.length++] = b;
  }
}
