/**
 * A small validator for decoded messages (no dependency). Each message type is declared once as
 * a schema object; `defineMessages` turns the declarations into a `MessageSet` whose `validate`
 * returns the typed union or throws `TransportError('badMessage')`, e.g.
 *   message "grad" field "data" must be a Float32Array of 1863690 elements (got 12)
 *
 * Rules (docs/protocol.md §Codec rules):
 * - a message is a plain object with a string `type` naming a declared message;
 * - every declared field is required unless wrapped in `f.optional`;
 * - **unknown fields are refused**, at every level: peers agree on the protocol version in the
 *   handshake, so an unexpected field is a bug or an attack, never a newer peer;
 * - numbers are finite, integers are safe integers in their range, strings have a maximum length,
 *   typed arrays have the exact type and (where declared) length;
 * - the result is a fresh object holding only the declared fields.
 * Lengths that are only known at run time (the parameter count) are named dimensions:
 * `f.float32('params')` takes its length from `dims.params` at validation time.
 */
import { TransportError } from './errors.js';

export type Dims = Readonly<Record<string, number>>;

interface FieldBase {
  readonly optional?: boolean;
}
export interface StringField extends FieldBase {
  readonly kind: 'string';
  readonly minLength: number;
  readonly maxLength: number;
  readonly pattern?: RegExp;
}
export interface EnumField<T extends string = string> extends FieldBase {
  readonly kind: 'enum';
  readonly values: readonly T[];
}
export interface NumberField extends FieldBase {
  readonly kind: 'number';
  readonly min: number;
  readonly max: number;
}
export interface IntegerField extends FieldBase {
  readonly kind: 'integer';
  readonly min: number;
  readonly max: number;
}
export interface BooleanField extends FieldBase {
  readonly kind: 'boolean';
}
export interface Float32Field extends FieldBase {
  readonly kind: 'float32';
  /** Exact element count, or the name of a dimension. */
  readonly length?: number | string;
  /** Largest element count, or the name of a dimension. */
  readonly maxLength?: number | string;
}
export interface BytesField extends FieldBase {
  readonly kind: 'bytes';
  readonly minLength: number;
  readonly maxLength: number;
}
export interface ObjectField<S extends Fields = Fields> extends FieldBase {
  readonly kind: 'object';
  readonly fields: S;
}
export interface ArrayField<E extends Field = Field> extends FieldBase {
  readonly kind: 'array';
  readonly of: E;
  readonly maxLength: number;
}
/** A flat map from identifier keys to scalar values (handshake `meta`). */
export interface RecordField<E extends ScalarField = ScalarField> extends FieldBase {
  readonly kind: 'record';
  readonly of: E;
  readonly maxKeys: number;
}
export interface AnyScalarField extends FieldBase {
  readonly kind: 'scalar';
  readonly maxLength: number;
}

export type ScalarField = StringField | EnumField | NumberField | IntegerField | BooleanField | AnyScalarField;
export type Field = ScalarField | Float32Field | BytesField | ObjectField | ArrayField | RecordField;
export type Fields = Readonly<Record<string, Field>>;

type Simplify<T> = { [K in keyof T]: T[K] } & {};

export type Infer<F> = F extends StringField
  ? string
  : F extends EnumField<infer T>
    ? T
    : F extends NumberField | IntegerField
      ? number
      : F extends BooleanField
        ? boolean
        : F extends AnyScalarField
          ? string | number | boolean
          : F extends Float32Field
            ? Float32Array
            : F extends BytesField
              ? Uint8Array
              : F extends ObjectField<infer S>
                ? InferFields<S>
                : F extends ArrayField<infer E>
                  ? Infer<E>[]
                  : F extends RecordField<infer E>
                    ? Record<string, Infer<E>>
                    : never;

export type InferFields<S extends Fields> = Simplify<
  { -readonly [K in keyof S as S[K] extends { optional: true } ? never : K]: Infer<S[K]> } & {
    -readonly [K in keyof S as S[K] extends { optional: true } ? K : never]?: Infer<S[K]>;
  }
>;

/** The union of messages declared by a schema map: `{ type: 'grad', step: number, ... } | ...`. */
export type MessagesOf<S extends Readonly<Record<string, Fields>>> = {
  [T in keyof S & string]: Simplify<{ type: T } & InferFields<S[T]>>;
}[keyof S & string];

const IDENTIFIER = /^[A-Za-z][A-Za-z0-9_]*$/;

/** Field builders. */
export const f = {
  string(o: { minLength?: number; maxLength?: number; pattern?: RegExp } = {}): StringField {
    return { kind: 'string', minLength: o.minLength ?? 0, maxLength: o.maxLength ?? 1024, ...(o.pattern && { pattern: o.pattern }) };
  },
  enum<const T extends string>(values: readonly T[]): EnumField<T> {
    return { kind: 'enum', values };
  },
  /** A finite number. */
  number(o: { min?: number; max?: number } = {}): NumberField {
    return { kind: 'number', min: o.min ?? -Infinity, max: o.max ?? Infinity };
  },
  /** A safe integer in [min, max]. */
  integer(o: { min?: number; max?: number } = {}): IntegerField {
    return { kind: 'integer', min: o.min ?? Number.MIN_SAFE_INTEGER, max: o.max ?? Number.MAX_SAFE_INTEGER };
  },
  boolean(): BooleanField {
    return { kind: 'boolean' };
  },
  /** A string of at most maxLength characters, a finite number or a boolean. */
  scalar(o: { maxLength?: number } = {}): AnyScalarField {
    return { kind: 'scalar', maxLength: o.maxLength ?? 1024 };
  },
  /** A Float32Array; `length` exact or `maxLength` at most, each a number or a dimension name. */
  float32(o: { length?: number | string; maxLength?: number | string } | number | string = {}): Float32Field {
    if (typeof o === 'number' || typeof o === 'string') return { kind: 'float32', length: o };
    return { kind: 'float32', ...(o.length !== undefined && { length: o.length }), ...(o.maxLength !== undefined && { maxLength: o.maxLength }) };
  },
  /** A byte string (msgpack bin or a Uint8Array). */
  bytes(o: { length?: number; minLength?: number; maxLength?: number } = {}): BytesField {
    return { kind: 'bytes', minLength: o.length ?? o.minLength ?? 0, maxLength: o.length ?? o.maxLength ?? 65_536 };
  },
  object<const S extends Fields>(fields: S): ObjectField<S> {
    checkFieldNames(fields, 'object');
    return { kind: 'object', fields };
  },
  array<E extends Field>(of: E, o: { maxLength?: number } = {}): ArrayField<E> {
    return { kind: 'array', of, maxLength: o.maxLength ?? 65_536 };
  },
  record<E extends ScalarField>(of: E, o: { maxKeys?: number } = {}): RecordField<E> {
    return { kind: 'record', of, maxKeys: o.maxKeys ?? 64 };
  },
  optional<F extends Field>(field: F): F & { readonly optional: true } {
    return { ...field, optional: true };
  },
};

function checkFieldNames(fields: Fields, where: string): void {
  for (const name of Object.keys(fields)) {
    if (!IDENTIFIER.test(name) || name === 'type' || name === 'constructor' || name === 'prototype') {
      throw new TransportError('badOption', `field name "${name}" in ${where} must be an identifier other than type/constructor/prototype`);
    }
  }
}

type Problem = { reason: string; text: string };

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return 'an array';
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`;
  if (typeof value === 'string') return `a string`;
  if (typeof value === 'number') return Number.isFinite(value) ? `the number ${value}` : String(value);
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function dimension(spec: number | string, dims: Dims, path: string): number {
  if (typeof spec === 'number') return spec;
  const value = dims[spec];
  if (value === undefined || !Number.isInteger(value) || value < 0) {
    // A programming error on our side (the engine did not set the dimension), not the peer's.
    throw new TransportError('badOption', `field "${path}" needs dimension "${spec}", which is not set`);
  }
  return value;
}

// Returns the checked (copied) value or a Problem. Paths read like `shard.start` or `ranges[2]`.
function check(field: Field, value: unknown, path: string, dims: Dims): { ok: unknown } | Problem {
  const bad = (reason: string, expected: string, got = kindOf(value)): Problem => ({
    reason,
    text: `field "${path}" must be ${expected} (got ${got})`,
  });
  switch (field.kind) {
    case 'string':
      if (typeof value !== 'string') return bad('wrongType', 'a string');
      if (value.length < field.minLength || value.length > field.maxLength) {
        return bad('outOfRange', `a string of ${field.minLength} to ${field.maxLength} characters`, `${value.length} characters`);
      }
      if (field.pattern && !field.pattern.test(value)) return bad('badPattern', `a string matching ${field.pattern}`, JSON.stringify(value.slice(0, 64)));
      return { ok: value };
    case 'enum':
      if (typeof value !== 'string' || !(field.values as readonly string[]).includes(value)) {
        return bad('wrongType', `one of ${field.values.map((v) => JSON.stringify(v)).join(', ')}`, typeof value === 'string' ? JSON.stringify(value.slice(0, 64)) : kindOf(value));
      }
      return { ok: value };
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value)) return bad('wrongType', 'a finite number');
      if (value < field.min || value > field.max) return bad('outOfRange', `a number from ${field.min} to ${field.max}`, String(value));
      return { ok: value };
    case 'integer':
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) return bad('wrongType', 'an integer');
      if (value < field.min || value > field.max) return bad('outOfRange', `an integer from ${field.min} to ${field.max}`, String(value));
      return { ok: value };
    case 'boolean':
      if (typeof value !== 'boolean') return bad('wrongType', 'a boolean');
      return { ok: value };
    case 'scalar':
      if (typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value))) return { ok: value };
      if (typeof value === 'string' && value.length <= field.maxLength) return { ok: value };
      return bad('wrongType', `a string of at most ${field.maxLength} characters, a finite number or a boolean`);
    case 'float32': {
      if (field.length !== undefined) {
        const n = dimension(field.length, dims, path);
        if (!(value instanceof Float32Array)) return bad('wrongType', `a Float32Array of ${n} elements`);
        if (value.length !== n) return bad('wrongLength', `a Float32Array of ${n} elements`, String(value.length));
      } else if (!(value instanceof Float32Array)) return bad('wrongType', 'a Float32Array');
      if (field.maxLength !== undefined) {
        const max = dimension(field.maxLength, dims, path);
        if (value.length > max) return bad('wrongLength', `a Float32Array of at most ${max} elements`, String(value.length));
      }
      return { ok: value };
    }
    case 'bytes':
      // a Uint8Array (msgpack bin or typed array), but not another typed array
      if (!(value instanceof Uint8Array) || value instanceof Uint8ClampedArray) return bad('wrongType', 'bytes');
      if (value.length < field.minLength || value.length > field.maxLength) {
        const expected = field.minLength === field.maxLength ? `${field.minLength} bytes` : `${field.minLength} to ${field.maxLength} bytes`;
        return bad('wrongLength', expected, `${value.length} bytes`);
      }
      return { ok: value };
    case 'object': {
      if (!isPlainObject(value)) return bad('wrongType', 'an object');
      return checkFields(field.fields, value, `${path}.`, dims);
    }
    case 'array': {
      if (!Array.isArray(value)) return bad('wrongType', 'an array');
      if (value.length > field.maxLength) return bad('outOfRange', `an array of at most ${field.maxLength} elements`, `${value.length} elements`);
      const out = new Array<unknown>(value.length);
      for (let i = 0; i < value.length; i++) {
        const r = check(field.of, value[i], `${path}[${i}]`, dims);
        if (!('ok' in r)) return r;
        out[i] = r.ok;
      }
      return { ok: out };
    }
    case 'record': {
      if (!isPlainObject(value)) return bad('wrongType', 'an object');
      const keys = Object.keys(value);
      if (keys.length > field.maxKeys) return bad('outOfRange', `an object of at most ${field.maxKeys} keys`, `${keys.length} keys`);
      const out: Record<string, unknown> = {};
      for (const key of keys) {
        if (!IDENTIFIER.test(key) || key.length > 64) {
          return { reason: 'badKey', text: `field "${path}" has a key that is not an identifier of at most 64 characters (${JSON.stringify(key.slice(0, 64))})` };
        }
        const r = check(field.of, value[key], `${path}.${key}`, dims);
        if (!('ok' in r)) return r;
        out[key] = r.ok;
      }
      return { ok: out };
    }
  }
}

function checkFields(fields: Fields, value: Record<string, unknown>, prefix: string, dims: Dims, skip?: string): { ok: unknown } | Problem {
  for (const key of Object.keys(value)) {
    if (key !== skip && !Object.hasOwn(fields, key)) {
      return { reason: 'unknownField', text: `has unknown field "${prefix}${key.slice(0, 64)}"` };
    }
  }
  const out: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(fields)) {
    const present = Object.hasOwn(value, name) && value[name] !== undefined;
    if (!present) {
      if (field.optional) continue;
      return { reason: 'missingField', text: `lacks field "${prefix}${name}"` };
    }
    const r = check(field, value[name], `${prefix}${name}`, dims);
    if (!('ok' in r)) return r;
    out[name] = r.ok;
  }
  return { ok: out };
}

function badMessage(reason: string, text: string): TransportError {
  return new TransportError('badMessage', text, { reason });
}

/** The declared messages of one protocol layer, with a validator for their typed union. */
export class MessageSet<M extends { type: string }> {
  readonly schemas: Readonly<Record<string, Fields>>;
  readonly types: readonly string[];

  constructor(schemas: Readonly<Record<string, Fields>>) {
    for (const [type, fields] of Object.entries(schemas)) {
      if (!IDENTIFIER.test(type)) throw new TransportError('badOption', `message type "${type}" must be an identifier`);
      checkFieldNames(fields, `message "${type}"`);
    }
    this.schemas = Object.freeze({ ...schemas });
    this.types = Object.freeze(Object.keys(schemas));
  }

  has(type: string): boolean {
    return Object.hasOwn(this.schemas, type);
  }

  /**
   * Checks a decoded value against its message schema. Returns a fresh object with only the
   * declared fields; throws `TransportError('badMessage')` with `reason` (notAnObject,
   * missingType, unknownType, unknownField, missingField, wrongType, outOfRange, wrongLength,
   * badPattern, badKey).
   */
  validate(raw: unknown, dims: Dims = {}): M {
    if (!isPlainObject(raw)) throw badMessage('notAnObject', `a message must be an object (got ${kindOf(raw)})`);
    const type = raw.type;
    if (typeof type !== 'string') throw badMessage('missingType', `a message needs a string field "type" (got ${kindOf(type)})`);
    if (!this.has(type)) {
      throw badMessage('unknownType', `unknown message type ${JSON.stringify(type.slice(0, 64))} (known: ${this.types.join(', ')})`);
    }
    const r = checkFields(this.schemas[type], raw, '', dims, 'type');
    if (!('ok' in r)) throw badMessage(r.reason, `message "${type}" ${r.text}`);
    return { type, ...(r.ok as object) } as unknown as M;
  }

  /** This set plus more message types (a type may be declared only once). */
  extend<const S extends Readonly<Record<string, Fields>>>(more: S): MessageSet<M | MessagesOf<S>> {
    for (const type of Object.keys(more)) {
      if (this.has(type)) throw new TransportError('badOption', `message type "${type}" is declared twice`);
    }
    return new MessageSet<M | MessagesOf<S>>({ ...this.schemas, ...more });
  }
}

/** Declares a protocol's messages: `defineMessages({ grad: { step: f.integer({ min: 0 }), data: f.float32('params') } })`. */
export function defineMessages<const S extends Readonly<Record<string, Fields>>>(schemas: S): MessageSet<MessagesOf<S>> {
  return new MessageSet<MessagesOf<S>>(schemas);
}
