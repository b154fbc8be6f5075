// The API reference as a page of this UI, rendered from the OpenAPI document
// itself (no external viewer: air-gapped sites read it too).

import { type Html, html } from './html.js';
import { page } from './pages.js';

type Json = Record<string, unknown>;

const METHODS = ['get', 'head', 'post'] as const;

function schemaName(schema: unknown): string {
  const s = (schema ?? {}) as Json;
  if (typeof s.$ref === 'string') return s.$ref.replace('#/components/schemas/', '');
  if (Array.isArray(s.enum)) return s.enum.join(' | ');
  if (s.type === 'array') return `array of ${schemaName(s.items)}`;
  return typeof s.type === 'string' ? s.type : '';
}

function operation(path: string, method: string, op: Json): Html {
  const parameters = (op.parameters as Json[] | undefined) ?? [];
  const responses = Object.entries((op.responses as Record<string, Json>) ?? {});
  return html`<section class="api-route" id="${`${method}-${path}`}"><h3><code>${method.toUpperCase()} ${path}</code>: ${String(op.summary ?? '')}</h3>
${typeof op.description === 'string' && html`<p>${op.description}</p>`}
${
  parameters.length > 0 &&
  html`<table><caption class="hint">Parameters</caption><thead><tr><th scope="col">Name</th><th scope="col">In</th><th scope="col">Schema</th><th scope="col">Description</th></tr></thead><tbody>${parameters.map(
    (p) => html`<tr><td><code>${String(p.name)}</code></td><td>${String(p.in)}</td><td>${schemaName(p.schema)}</td><td>${String(p.description ?? '')}</td></tr>`,
  )}</tbody></table>`
}
<table><caption class="hint">Responses</caption><thead><tr><th scope="col">Status</th><th scope="col">Content-Type</th><th scope="col">Description</th></tr></thead><tbody>${responses.map(([status, r]) => {
    const content = Object.entries((r.content as Record<string, Json>) ?? {});
    const example = content.map(([, m]) => m.example).find((e) => typeof e === 'string');
    return html`<tr><td>${status}</td><td>${content.map(([type, m]) => html`<code>${type}</code>${m.schema ? ` (${schemaName(m.schema)})` : ''} `)}</td><td>${String(r.description ?? '')}${typeof example === 'string' && html` e.g. <code>${example.trimEnd()}</code>`}</td></tr>`;
  })}</tbody></table></section>`;
}

export function apiPage(document: Json): string {
  const info = document.info as Json;
  const paths = Object.entries(document.paths as Record<string, Json>);
  const schemas = Object.entries(((document.components as Json).schemas as Json) ?? {});
  return page(
    'API',
    html`<h1>${String(info.title)} API</h1>
<p>${String(info.description)}</p>
<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI ${String(document.openapi)}).</p>
<h2>Routes</h2>
${paths.flatMap(([path, item]) => METHODS.filter((m) => item[m]).map((m) => operation(path, m, item[m] as Json)))}
<h2>Schemas</h2>
${schemas.map(([name, schema]) => html`<h3 id="schema-${name}">${name}</h3><pre>${JSON.stringify(schema, null, 2)}</pre>`)}`,
  );
}
