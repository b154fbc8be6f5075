// Descriptions of the Go types a document is decoded into and encoded from.
// go-yaml's behaviour depends on the target type (kind, name, omitempty), so
// the schematic is described with these instead of with a JS schema.

export interface GoField {
  /** The yaml key. */
  readonly key: string;
  readonly omitEmpty: boolean;
  readonly type: GoType;
}

export type GoType =
  | { readonly kind: 'struct'; readonly name: string; readonly fields: readonly GoField[] }
  | { readonly kind: 'slice'; readonly elem: GoType }
  | { readonly kind: 'string' }
  | { readonly kind: 'bool' }
  | { readonly kind: 'uint'; readonly name: 'uint8' | 'uint' }
  /** An int enum that implements encoding.TextMarshaler/TextUnmarshaler. */
  | { readonly kind: 'textEnum'; readonly name: string; readonly names: readonly string[] }
  /** map[string]interface{} */
  | { readonly kind: 'stringMap' }
  /** map[interface{}]interface{} */
  | { readonly kind: 'anyMap' }
  /** interface{} */
  | { readonly kind: 'any' };

/** The type as Go's reflect.Type.String() prints it in error messages. */
export function goTypeName(t: GoType): string {
  switch (t.kind) {
    case 'struct':
    case 'textEnum':
    case 'uint':
      return t.name;
    case 'slice':
      return `[]${goTypeName(t.elem)}`;
    case 'string':
    case 'bool':
      return t.kind;
    case 'stringMap':
      return 'map[string]interface {}';
    case 'anyMap':
      return 'map[interface {}]interface {}';
    case 'any':
      return 'interface {}';
  }
}

export const UINT_MAX: Record<'uint8' | 'uint', bigint> = { uint8: 255n, uint: 2n ** 64n - 1n };

/** The Go zero value of a type, in the JS shape the decoder produces. */
export function zeroValue(t: GoType): unknown {
  switch (t.kind) {
    case 'struct':
      return Object.fromEntries(t.fields.map((f) => [f.key, zeroValue(f.type)]));
    case 'string':
      return '';
    case 'bool':
      return false;
    case 'uint':
      return 0n;
    case 'textEnum':
      return 0;
    case 'slice':
    case 'stringMap':
    case 'anyMap':
    case 'any':
      return null;
  }
}
