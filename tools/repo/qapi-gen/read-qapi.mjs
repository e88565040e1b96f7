// Reads QAPI schema files: a sequence of JSON-like expressions with single-quoted strings and
// '#' comments. Follows 'include' directives relative to the including file, each file once.
import { readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';

/** Tokenises one schema file and returns its top-level expressions. */
export function parseQapiText(text, fileName) {
  let pos = 0;
  let line = 1;
  const fail = (message) => {
    throw new Error(`${fileName}:${line}: ${message}`);
  };
  const skip = () => {
    for (;;) {
      const c = text[pos];
      if (c === '\n') {
        line++;
        pos++;
      } else if (c === ' ' || c === '\t' || c === '\r') {
        pos++;
      } else if (c === '#') {
        while (pos < text.length && text[pos] !== '\n') pos++;
      } else {
        return;
      }
    }
  };
  const value = () => {
    skip();
    const c = text[pos];
    if (c === '{') {
      pos++;
      const object = {};
      skip();
      if (text[pos] === '}') {
        pos++;
        return object;
      }
      for (;;) {
        const key = value();
        if (typeof key !== 'string') fail('object key must be a string');
        skip();
        if (text[pos] !== ':') fail("expected ':'");
        pos++;
        if (Object.hasOwn(object, key)) fail(`duplicate key '${key}'`);
        object[key] = value();
        skip();
        if (text[pos] === ',') {
          pos++;
          continue;
        }
        if (text[pos] === '}') {
          pos++;
          return object;
        }
        fail("expected ',' or '}'");
      }
    }
    if (c === '[') {
      pos++;
      const list = [];
      skip();
      if (text[pos] === ']') {
        pos++;
        return list;
      }
      for (;;) {
        list.push(value());
        skip();
        if (text[pos] === ',') {
          pos++;
          continue;
        }
        if (text[pos] === ']') {
          pos++;
          return list;
        }
        fail("expected ',' or ']'");
      }
    }
    if (c === "'") {
      pos++;
      let out = '';
      while (text[pos] !== "'") {
        if (pos >= text.length || text[pos] === '\n') fail('unterminated string');
        if (text[pos] === '\\') pos++;
        out += text[pos++];
      }
      pos++;
      return out;
    }
    if (text.startsWith('true', pos)) {
      pos += 4;
      return true;
    }
    if (text.startsWith('false', pos)) {
      pos += 5;
      return false;
    }
    return fail(`unexpected character '${c}'`);
  };
  const expressions = [];
  for (;;) {
    skip();
    if (pos >= text.length) return expressions;
    const expressionLine = line;
    const expression = value();
    expressions.push({ expression, file: fileName, line: expressionLine });
  }
}

/** Reads the main schema file and everything it includes, in include order. */
export function readQapiSchema(mainFile, rootDir) {
  const seen = new Set();
  const out = [];
  const visit = (file) => {
    const absolute = resolve(file);
    if (seen.has(absolute)) return;
    seen.add(absolute);
    const name = relative(rootDir, absolute);
    for (const item of parseQapiText(readFileSync(absolute, 'utf8'), name)) {
      if (typeof item.expression.include === 'string') {
        visit(resolve(dirname(absolute), item.expression.include));
      } else {
        out.push(item);
      }
    }
  };
  visit(mainFile);
  return { expressions: out, files: [...seen].map((f) => relative(rootDir, f)) };
}
