import { QapiSchemaError } from '../errors.js';
import type { SchemaEntity } from './schema-info.js';

/** Fast lookup of schema entities by name, with the commands and events listed apart. */
export class SchemaIndex {
  private readonly byName = new Map<string, SchemaEntity>();

  constructor(readonly entities: readonly SchemaEntity[]) {
    for (const entity of entities) this.byName.set(entity.name, entity);
  }

  /** The entity called `name`; a dangling reference is a schema bug, reported as such. */
  get(name: string): SchemaEntity {
    const entity = this.byName.get(name);
    if (entity === undefined) throw new QapiSchemaError(`schema refers to undefined type '${name}'`);
    return entity;
  }

  /** Whether an entity of that name exists. */
  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** The command entity of that name, if any. */
  command(name: string): Extract<SchemaEntity, { 'meta-type': 'command' }> | undefined {
    const entity = this.byName.get(name);
    return entity?.['meta-type'] === 'command' ? entity : undefined;
  }

  /** The event entity of that name, if any. */
  event(name: string): Extract<SchemaEntity, { 'meta-type': 'event' }> | undefined {
    const entity = this.byName.get(name);
    return entity?.['meta-type'] === 'event' ? entity : undefined;
  }
}
