// Writes TypeScript declarations for the schema entities: enums as string-literal unions, structs
// as interfaces, flat unions as discriminated unions, alternates as unions, and maps from command
// and event names to their argument, return and data types.

const TS_BUILTINS = {
  str: 'string',
  number: 'number',
  int: 'number',
  int8: 'number',
  int16: 'number',
  int32: 'number',
  int64: 'number',
  uint8: 'number',
  uint16: 'number',
  uint32: 'number',
  uint64: 'number',
  size: 'number',
  bool: 'boolean',
  null: 'null',
  any: 'JsonValue',
  q_empty: 'QapiEmpty',
};

/** Names that would shadow TypeScript's global types. */
const RENAMED = { String: 'QapiString' };

const pascal = (text) =>
  text
    .split(/[-_.]/)
    .filter((part) => part.length > 0)
    .map((part) => part[0].toUpperCase() + part.slice(1).toLowerCase())
    .join('');

/** The TypeScript name of a QAPI type name. */
export function tsTypeName(name) {
  if (TS_BUILTINS[name] !== undefined) return TS_BUILTINS[name];
  if (name.startsWith('[')) {
    const inner = tsTypeName(name.slice(1, -1));
    return /^[A-Za-z0-9_]+$/.test(inner) ? `${inner}[]` : `Array<${inner}>`;
  }
  let match = /^q_obj_(.*)-arg$/.exec(name);
  if (match) {
    return /^[A-Z0-9_]+$/.test(match[1]) ? `${pascal(match[1])}EventData` : `${pascal(match[1])}Arguments`;
  }
  match = /^q_obj_(.*)-base$/.exec(name);
  if (match) return `${match[1].replace(/[^A-Za-z0-9_]/g, '_')}Base`;
  return RENAMED[name] ?? name.replace(/[^A-Za-z0-9_]/g, '_');
}

const quoteKey = (key) => (/^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? key : `'${key}'`);
const literal = (value) => `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

function memberLines(members, indent = '  ') {
  return members.map(
    (m) => `${indent}${quoteKey(m.name)}${m.default === null ? '?' : ''}: ${tsTypeName(m.type)};`,
  );
}

/** Emits the whole module text. */
export function emitTypes(entities, header) {
  const byName = new Map(entities.map((e) => [e.name, e]));
  const out = [header, "import type { JsonValue } from '../json/json-value.js';", ''];
  out.push('/** The empty argument or return object. */');
  out.push('export type QapiEmpty = Record<string, never>;', '');
  const commands = [];
  const events = [];
  for (const entity of entities) {
    const name = tsTypeName(entity.name);
    switch (entity['meta-type']) {
      case 'builtin':
      case 'array':
        break;
      case 'enum':
        out.push(`/** QAPI enum \`${entity.name}\`. */`);
        out.push(`export type ${name} = ${entity.values.map(literal).join(' | ') || 'never'};`, '');
        break;
      case 'alternate':
        out.push(`/** QAPI alternate \`${entity.name}\`. */`);
        out.push(`export type ${name} = ${entity.members.map((m) => tsTypeName(m.type)).join(' | ')};`, '');
        break;
      case 'object':
        if (entity.name === 'q_empty') break;
        if (entity.tag === undefined) {
          out.push(`/** QAPI struct \`${entity.name}\`. */`);
          out.push(`export interface ${name} {`, ...memberLines(entity.members), '}', '');
        } else {
          out.push(...emitUnion(entity, byName));
        }
        break;
      case 'command':
        commands.push(entity);
        break;
      case 'event':
        events.push(entity);
        break;
    }
  }
  out.push('/** Every command: its argument object and its return value. */');
  out.push('export interface QmpCommandMap {');
  for (const c of commands) {
    out.push(
      `  ${literal(c.name)}: { arguments: ${tsTypeName(c['arg-type'])}; returns: ${tsTypeName(c['ret-type'])} };`,
    );
  }
  out.push('}', '');
  out.push('/** Every event and the type of its `data` member. */');
  out.push('export interface QmpEventMap {');
  for (const e of events) out.push(`  ${literal(e.name)}: ${tsTypeName(e['arg-type'])};`);
  out.push('}', '');
  return out.join('\n');
}

function emitUnion(entity, byName) {
  const name = tsTypeName(entity.name);
  const tagMember = entity.members.find((m) => m.name === entity.tag);
  const tagEnum = byName.get(tagMember.type);
  const common = entity.members.filter((m) => m.name !== entity.tag);
  const lines = [`/** Members of \`${entity.name}\` common to every branch. */`];
  lines.push(`export interface ${name}Common {`, ...memberLines(common), '}', '');
  lines.push(`/** QAPI union \`${entity.name}\`, discriminated by \`${entity.tag}\`. */`);
  const branches = tagEnum.values.map((value) => {
    const variant = entity.variants.find((v) => v.case === value);
    const tag = `{ ${quoteKey(entity.tag)}: ${literal(value)} }`;
    return variant === undefined
      ? `  | (${name}Common & ${tag})`
      : `  | (${name}Common & ${tag} & ${tsTypeName(variant.type)})`;
  });
  lines.push(`export type ${name} =`, ...branches);
  lines[lines.length - 1] += ';';
  lines.push('');
  return lines;
}
