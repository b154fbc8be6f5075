// HTML built from tagged templates where every interpolated value is escaped
// unless it is already Html: catalog descriptions, kernel arguments, pasted
// YAML and error texts can never become markup.

export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

/** What a template may interpolate: text (escaped), Html (as is), lists of either, or nothing. */
export type HtmlValue = string | number | Html | undefined | null | false | readonly HtmlValue[];

function render(value: HtmlValue): string {
  if (value === undefined || value === null || value === false) return '';
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): Html {
  let out = strings[0] ?? '';
  values.forEach((value, i) => {
    out += render(value) + (strings[i + 1] ?? '');
  });
  return new Html(out);
}

/** A query string (with its `?`) from name/value pairs; repeated names allowed. */
export function query(pairs: ReadonlyArray<readonly [string, string]>): string {
  const text = new URLSearchParams(pairs.map(([k, v]): [string, string] => [k, v])).toString();
  return text === '' ? '' : `?${text}`;
}
