import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { QAPI_SCHEMA } from '../generated/qapi-schema.js';
import { RECORDED_QUERY_QMP_SCHEMA } from '../generated/recorded-introspection.js';
import type { SchemaEntity } from './schema-info.js';

const recorded = RECORDED_QUERY_QMP_SCHEMA.return as unknown as SchemaEntity[];
const recordedByName = new Map(recorded.map((e) => [e.name, e]));
const ours = new Map(QAPI_SCHEMA.map((e) => [e.name, e]));

/** Member names (with `?` for optional ones) of an object type, in order. */
function memberShape(index: Map<string, SchemaEntity>, typeName: string): string[] {
  const entity = index.get(typeName);
  if (entity?.['meta-type'] !== 'object') return [`<${entity?.['meta-type']}>`];
  return entity.members.map((m) => `${m.name}${m.default === null ? '?' : ''}`);
}

describe('generated QAPI modules', () => {
  it('are up to date with the schema files and the generator', () => {
    const packageDir = fileURLToPath(new URL('../..', import.meta.url));
    // Throws (non-zero exit) when a checked-in file differs from what the generator writes.
    execFileSync(process.execPath, ['../../tools/repo/qapi-gen/generate.mjs', '--check'], {
      cwd: packageDir,
    });
  });

  it('declare the same commands and events as the real daemon introspects', () => {
    const names = (list: Iterable<SchemaEntity>, meta: string): string[] =>
      [...list]
        .filter((e) => e['meta-type'] === meta)
        .map((e) => e.name)
        .sort();
    expect(names(QAPI_SCHEMA, 'command')).toEqual(names(recorded, 'command'));
    expect(names(QAPI_SCHEMA, 'event')).toEqual(names(recorded, 'event'));
    expect(names(recorded, 'command')).toHaveLength(74);
  });

  it('give every command and event the same argument members as the real daemon', () => {
    for (const entity of recorded) {
      if (entity['meta-type'] !== 'command' && entity['meta-type'] !== 'event') continue;
      const mine = ours.get(entity.name);
      if (mine?.['meta-type'] !== entity['meta-type']) throw new Error(`missing ${entity.name}`);
      expect({ name: entity.name, members: memberShape(ours, mine['arg-type']) }).toEqual({
        name: entity.name,
        members: memberShape(recordedByName, entity['arg-type']),
      });
    }
  });

  it('have the same enumerations (value lists) as the real daemon', () => {
    const enums = (list: Iterable<SchemaEntity>): string[] =>
      [...list].flatMap((e) => (e['meta-type'] === 'enum' ? [e.values.join(',')] : [])).sort();
    const mine = enums(QAPI_SCHEMA);
    for (const values of enums(recorded)) expect(mine).toContain(values);
  });
});
