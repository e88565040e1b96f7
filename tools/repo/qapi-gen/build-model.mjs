// Turns QAPI expressions into introspection entities (the query-qmp-schema form) with their real
// type names, keeping only what the build configuration enables and what commands and events reach.

/** Builtin types and the JSON kind each maps to. */
export const BUILTINS = {
  str: 'string',
  number: 'number',
  int: 'int',
  int8: 'int',
  int16: 'int',
  int32: 'int',
  int64: 'int',
  uint8: 'int',
  uint16: 'int',
  uint32: 'int',
  uint64: 'int',
  size: 'int',
  bool: 'boolean',
  null: 'null',
  any: 'value',
  QType: 'string',
};

const QTYPE_VALUES = ['none', 'qnull', 'qnum', 'qstring', 'qdict', 'qlist', 'qbool'];

/** Evaluates a QAPI 'if' condition against the set of enabled configuration symbols. */
export function conditionHolds(condition, config) {
  if (condition === undefined) return true;
  if (typeof condition === 'string') return config.has(condition);
  if (condition.all) return condition.all.every((c) => conditionHolds(c, config));
  if (condition.any) return condition.any.some((c) => conditionHolds(c, config));
  if (condition.not !== undefined) return !conditionHolds(condition.not, config);
  throw new Error(`unknown condition ${JSON.stringify(condition)}`);
}

const featureNames = (features, config) =>
  (features ?? [])
    .map((f) => (typeof f === 'string' ? { name: f } : f))
    .filter((f) => conditionHolds(f.if, config))
    .map((f) => f.name);

const withFeatures = (entity, features) => (features.length > 0 ? { ...entity, features } : entity);

function typeRef(type) {
  return Array.isArray(type) ? `[${type[0]}]` : type;
}

function members(data, config) {
  const out = [];
  for (const [rawName, spec] of Object.entries(data ?? {})) {
    const detail = typeof spec === 'object' && !Array.isArray(spec) ? spec : { type: spec };
    if (!conditionHolds(detail.if, config)) continue;
    const optional = rawName.startsWith('*');
    const member = { name: optional ? rawName.slice(1) : rawName, type: typeRef(detail.type) };
    if (optional) member.default = null;
    const features = featureNames(detail.features, config);
    out.push(features.length > 0 ? { ...member, features } : member);
  }
  return out;
}

/** Builds every entity of the schema (before reachability filtering), keyed by name. */
export function buildEntities(expressions, config) {
  const entities = new Map();
  const add = (entity) => {
    if (entities.has(entity.name)) throw new Error(`duplicate definition of ${entity.name}`);
    entities.set(entity.name, entity);
  };
  for (const [name, jsonType] of Object.entries(BUILTINS)) {
    add(
      name === 'QType'
        ? { name, 'meta-type': 'enum', values: QTYPE_VALUES }
        : { name, 'meta-type': 'builtin', 'json-type': jsonType },
    );
  }
  add({ name: 'q_empty', 'meta-type': 'object', members: [] });
  const structs = new Map();

  const implicitObject = (name, data) => {
    add({ name, 'meta-type': 'object', members: members(data, config) });
    return name;
  };

  for (const { expression: e } of expressions) {
    if (e.pragma !== undefined) continue;
    if (!conditionHolds(e.if, config)) continue;
    const features = featureNames(e.features, config);
    if (e.enum !== undefined) {
      const values = e.data
        .map((v) => (typeof v === 'string' ? { name: v } : v))
        .filter((v) => conditionHolds(v.if, config));
      add(withFeatures({ name: e.enum, 'meta-type': 'enum', values: values.map((v) => v.name) }, features));
    } else if (e.struct !== undefined) {
      structs.set(e.struct, e);
      add(
        withFeatures(
          { name: e.struct, 'meta-type': 'object', members: members(e.data, config), base: e.base },
          features,
        ),
      );
    } else if (e.union !== undefined) {
      const base = typeof e.base === 'string' ? e.base : implicitObject(`q_obj_${e.union}-base`, e.base);
      const variants = Object.entries(e.data)
        .map(([tagValue, spec]) =>
          typeof spec === 'string' ? { case: tagValue, type: spec } : { case: tagValue, ...spec },
        )
        .filter((v) => conditionHolds(v.if, config))
        .map((v) => ({ case: v.case, type: v.type }));
      add(
        withFeatures(
          { name: e.union, 'meta-type': 'object', members: [], base, tag: e.discriminator, variants },
          features,
        ),
      );
    } else if (e.alternate !== undefined) {
      const branches = Object.values(e.data)
        .map((spec) => (typeof spec === 'string' ? { type: spec } : spec))
        .filter((spec) => conditionHolds(spec.if, config))
        .map((spec) => ({ type: typeRef(spec.type) }));
      add(withFeatures({ name: e.alternate, 'meta-type': 'alternate', members: branches }, features));
    } else if (e.command !== undefined) {
      let argType = 'q_empty';
      if (typeof e.data === 'string') argType = e.data;
      else if (e.data !== undefined) argType = implicitObject(`q_obj_${e.command}-arg`, e.data);
      const entity = {
        name: e.command,
        'meta-type': 'command',
        'arg-type': argType,
        'ret-type': e.returns === undefined ? 'q_empty' : typeRef(e.returns),
      };
      if (e['allow-oob']) entity['allow-oob'] = true;
      add(withFeatures(entity, features));
    } else if (e.event !== undefined) {
      let argType = 'q_empty';
      if (typeof e.data === 'string') argType = e.data;
      else if (e.data !== undefined) argType = implicitObject(`q_obj_${e.event}-arg`, e.data);
      add(withFeatures({ name: e.event, 'meta-type': 'event', 'arg-type': argType }, features));
    } else {
      throw new Error(`unknown expression ${JSON.stringify(e).slice(0, 80)}`);
    }
  }
  return flattenBases(entities);
}

/** Struct bases become members written first, as introspection shows them. */
function flattenBases(entities) {
  const resolved = new Map();
  const resolve = (name) => {
    const entity = entities.get(name);
    if (entity?.['meta-type'] !== 'object') return entity;
    if (resolved.has(name)) return resolved.get(name);
    const { base, ...rest } = entity;
    const baseMembers = base === undefined ? [] : resolve(base).members;
    const flat = { ...rest, members: [...baseMembers, ...rest.members] };
    resolved.set(name, flat);
    return flat;
  };
  const out = new Map();
  for (const name of entities.keys()) out.set(name, resolve(name));
  for (const name of [...out.keys()]) {
    for (const ref of references(out.get(name))) ensureArray(out, ref);
  }
  return out;
}

function ensureArray(entities, name) {
  if (!name.startsWith('[') || entities.has(name)) return;
  const element = name.slice(1, -1);
  entities.set(name, { name, 'meta-type': 'array', 'element-type': element });
}

/** Type names an entity refers to. */
export function references(entity) {
  switch (entity['meta-type']) {
    case 'object':
      return [...entity.members.map((m) => m.type), ...(entity.variants ?? []).map((v) => v.type)];
    case 'alternate':
      return entity.members.map((m) => m.type);
    case 'array':
      return [entity['element-type']];
    case 'command':
      return [entity['arg-type'], entity['ret-type']];
    case 'event':
      return [entity['arg-type']];
    default:
      return [];
  }
}

/**
 * Keeps commands, events, the extra root types (types only the command line uses) and the types
 * they reach, in definition order.
 */
export function reachable(entities, extraRoots = []) {
  const keep = new Set();
  const visit = (name) => {
    if (keep.has(name)) return;
    const entity = entities.get(name);
    if (entity === undefined) throw new Error(`reference to undefined type ${name}`);
    keep.add(name);
    for (const ref of references(entity)) visit(ref);
  };
  for (const entity of entities.values()) {
    if (entity['meta-type'] === 'command' || entity['meta-type'] === 'event') visit(entity.name);
  }
  for (const name of extraRoots) visit(name);
  return [...entities.values()].filter((e) => keep.has(e.name));
}
