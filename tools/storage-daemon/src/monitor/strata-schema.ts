import { type EnumEntity, type ObjectEntity, QAPI_SCHEMA, type SchemaEntity } from '@strata/qmp-protocol';

/** Strata's transaction actions beyond QEMU 7.2's, each with the argument type of its command. */
const EXTRA_ACTIONS: readonly { action: string; wrapper: string; data: string }[] = [
  // Snapshot onto a new overlay and mirror that overlay, all-or-nothing: QEMU has no such action.
  { action: 'blockdev-mirror', wrapper: 'StrataBlockdevMirrorWrapper', data: 'q_obj_blockdev-mirror-arg' },
];

function withAction(entity: SchemaEntity): SchemaEntity {
  if (entity.name === 'TransactionActionKind' && entity['meta-type'] === 'enum') {
    const kinds = entity as EnumEntity;
    const values = [...kinds.values, ...EXTRA_ACTIONS.map((a) => a.action)];
    const members = kinds.members && [...kinds.members, ...EXTRA_ACTIONS.map((a) => ({ name: a.action }))];
    return members ? { ...kinds, values, members } : { ...kinds, values };
  }
  if (entity.name === 'TransactionAction' && entity['meta-type'] === 'object') {
    const union = entity as ObjectEntity;
    const extra = EXTRA_ACTIONS.map((a) => ({ case: a.action, type: a.wrapper }));
    return { ...union, variants: [...(union.variants ?? []), ...extra] };
  }
  return entity;
}

/**
 * The schema the monitor validates arguments against: qemu-storage-daemon 7.2's, with
 * `transaction` also accepting Strata's extra actions. `query-qmp-schema` still answers
 * QEMU's introspection, so a client probing for QEMU features sees QEMU's schema.
 */
export const STRATA_SCHEMA: readonly SchemaEntity[] = [
  ...QAPI_SCHEMA.map(withAction),
  ...EXTRA_ACTIONS.map(
    (a): ObjectEntity => ({
      name: a.wrapper,
      'meta-type': 'object',
      members: [{ name: 'data', type: a.data }],
    }),
  ),
];
