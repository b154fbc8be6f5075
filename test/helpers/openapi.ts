// Checks real HTTP responses against the factory's OpenAPI document: the
// document itself must be valid OpenAPI 3.1 (@seriousme/openapi-schema-validator),
// every response's route, method, status and Content-Type must be described,
// and its body must match the described schema (Ajv, JSON Schema 2020-12).

import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';

type Json = Record<string, unknown>;

export interface CheckedResponse {
  method: string;
  url: string;
  status: number;
  contentType: string | null;
  body: string;
}

export class OpenApiChecker {
  private readonly ajv = new Ajv2020({ strict: false, allErrors: true });
  /** Path templates as regular expressions, literal paths first. */
  private readonly templates: Array<{ template: string; pattern: RegExp }>;
  /** Every (template, method, status) a check saw, to report what the tests never reached. */
  readonly seen = new Set<string>();

  constructor(readonly document: Json) {
    const paths = Object.keys(document.paths as Json);
    this.templates = paths
      .map((template) => ({ template, pattern: new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\?\{[^}]+\\?\}/g, '[^/]+')}$`) }))
      .sort((a, b) => Number(a.template.includes('{')) - Number(b.template.includes('{')));
  }

  /** Problems of the document as OpenAPI 3.1 (empty when valid). */
  static async validateDocument(document: Json): Promise<unknown[]> {
    const result = await new Validator().validate(document as never);
    return result.valid ? [] : [result.errors].flat();
  }

  private resolve(schema: Json): Json {
    const ref = schema.$ref;
    if (typeof ref !== 'string') return schema;
    const name = ref.replace('#/components/schemas/', '');
    return ((this.document.components as Json).schemas as Record<string, Json>)[name]!;
  }

  /** Throws an Error saying what does not match the document. */
  check(r: CheckedResponse): void {
    const path = new URL(r.url).pathname;
    const found = this.templates.find((t) => t.pattern.test(path));
    if (!found) throw new Error(`${r.method} ${path}: no path in the OpenAPI document matches`);
    const operation = ((this.document.paths as Record<string, Json>)[found.template]! as Record<string, Json | undefined>)[r.method.toLowerCase()];
    if (!operation) throw new Error(`${r.method} ${found.template}: method not described`);
    const response = (operation.responses as Record<string, Json>)[String(r.status)];
    if (!response) throw new Error(`${r.method} ${found.template}: status ${r.status} not described (body: ${r.body.slice(0, 200)})`);
    this.seen.add(`${r.method} ${found.template} ${r.status}`);
    const content = response.content as Record<string, Json> | undefined;
    if (!content) {
      if (r.body !== '') throw new Error(`${r.method} ${found.template} ${r.status}: a body where none is described`);
      return;
    }
    if (r.contentType === null || !(r.contentType in content)) {
      throw new Error(`${r.method} ${found.template} ${r.status}: Content-Type ${r.contentType} is not one of ${Object.keys(content).join(', ')}`);
    }
    const declared = content[r.contentType]!.schema as Json | undefined;
    if (!declared || r.method === 'HEAD') return;
    const schema = this.resolve(declared);
    const value: unknown = schema.type === 'string' ? r.body : JSON.parse(r.body);
    const validate = this.ajv.compile({ ...declared, components: this.document.components });
    if (!validate(value)) {
      throw new Error(`${r.method} ${found.template} ${r.status}: body does not match its schema: ${this.ajv.errorsText(validate.errors)}\n${r.body.slice(0, 300)}`);
    }
  }
}
