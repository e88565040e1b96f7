/**
 * The shape of QMP introspection (`query-qmp-schema`, described by QEMU's `introspect.json`):
 * one entity per command, event and type. The validator and the server work on this form.
 */

/** JSON kinds a builtin type maps to. */
export type JsonType = 'string' | 'number' | 'int' | 'boolean' | 'null' | 'object' | 'array' | 'value';

/** Fields every entity has. */
export interface SchemaEntityBase {
  readonly name: string;
  readonly features?: readonly string[];
}

/** A builtin scalar (`str`, `int`, `uint32`, `size`, `bool`, `number`, `null`, `any`, ...). */
export interface BuiltinEntity extends SchemaEntityBase {
  readonly 'meta-type': 'builtin';
  readonly 'json-type': JsonType;
}

/** An enumeration of string values. */
export interface EnumEntity extends SchemaEntityBase {
  readonly 'meta-type': 'enum';
  readonly values: readonly string[];
  readonly members?: readonly { readonly name: string; readonly features?: readonly string[] }[];
}

/** A list type; its name is written `[T]`. */
export interface ArrayEntity extends SchemaEntityBase {
  readonly 'meta-type': 'array';
  readonly 'element-type': string;
}

/** One member of an object type; `default` present (as null) means optional. */
export interface ObjectMember {
  readonly name: string;
  readonly type: string;
  readonly default?: null;
  readonly features?: readonly string[];
}

/** One branch of a flat union: when the tag equals `case`, the members of `type` apply too. */
export interface ObjectVariant {
  readonly case: string;
  readonly type: string;
}

/** A struct or (flat) union. */
export interface ObjectEntity extends SchemaEntityBase {
  readonly 'meta-type': 'object';
  readonly members: readonly ObjectMember[];
  readonly tag?: string;
  readonly variants?: readonly ObjectVariant[];
}

/** An alternate: a value of one of several types, chosen by its JSON kind. */
export interface AlternateEntity extends SchemaEntityBase {
  readonly 'meta-type': 'alternate';
  readonly members: readonly { readonly type: string }[];
}

/** A command with its argument object type and return type. */
export interface CommandEntity extends SchemaEntityBase {
  readonly 'meta-type': 'command';
  readonly 'arg-type': string;
  readonly 'ret-type': string;
  readonly 'allow-oob'?: boolean;
}

/** An event with its data object type. */
export interface EventEntity extends SchemaEntityBase {
  readonly 'meta-type': 'event';
  readonly 'arg-type': string;
}

/** Any introspection entity. */
export type SchemaEntity =
  | BuiltinEntity
  | EnumEntity
  | ArrayEntity
  | ObjectEntity
  | AlternateEntity
  | CommandEntity
  | EventEntity;
