// The web UI's routes: the wizard at `/` (each step a GET URL), schematic
// creation from the last step or from pasted YAML (through the same
// SchematicService.create as POST /schematics), the result page with each
// asset's state, "prepare" for browsers without JavaScript, and the UI's
// own stylesheet and script.

import express, { type Express, type Request, type RequestHandler, type Response } from 'express';
import type { AssetService } from '../../assets/service.js';
import { AssetNotImplementedError, InvalidAssetRequestError } from '../../assets/target.js';
import { UnknownExtensionError, VersionNotAvailableError } from '../../release/errors.js';
import type { ReleaseService } from '../../release/release.js';
import { InvalidSchematicError, type ParsedSchematic, SCHEMATIC_ID_PATTERN, type SchematicService } from '../../schematic/index.js';
import { InvalidAssetPathError, parseAssetPath } from '../../talos/asset-path.js';
import { allPlatforms } from '../../talos/platforms.js';
import { InvalidVersionError, parsePathVersion, versionTag } from '../../talos/version.js';
import { clientAddress, route } from '../routing.js';
import { query } from '../ui/html.js';
import { type LinkBases, resultLinks } from '../ui/links.js';
import { type AssetState, type FieldErrors, messagePage, pastePage, resultPage, stepPage } from '../ui/pages.js';
import { sendPage } from '../ui/respond.js';
import { STATIC_FILES } from '../ui/static-files.js';
import { type DoneStep, overlayOptionsText, prefill, resolveStep, schematicYaml, type Step, stateParams } from '../ui/wizard.js';
import { MAX_SCHEMATIC_BYTES, type SchematicCreated } from './schematics.js';

export interface UiDeps extends LinkBases {
  schematics: SchematicService;
  releases: ReleaseService;
  assets: AssetService;
  onCreated?: SchematicCreated;
}

/** Why a file cannot be prepared that is the request's fault (the page says so instead of an error text). */
const UNBUILDABLE = [InvalidAssetPathError, InvalidVersionError, InvalidAssetRequestError, AssetNotImplementedError, UnknownExtensionError];

function queryParams(req: Request): URLSearchParams {
  return new URLSearchParams(req.originalUrl.includes('?') ? req.originalUrl.slice(req.originalUrl.indexOf('?') + 1) : '');
}

function formParams(req: Request): URLSearchParams {
  return new URLSearchParams(typeof req.body === 'string' ? req.body : '');
}

/** The result page of a schematic for the target the choices name. */
function resultUrl(id: string, choices: DoneStep['choices']): string {
  const target = stateParams(choices, 'extensions').filter(([name]) => ['target', 'platform', 'board', 'arch'].includes(name));
  return `/ui/result/${id}/${versionTag(choices.version)}${query(target)}`;
}

function handle(handler: (req: Request, res: Response) => Promise<void>): RequestHandler {
  return (req, res, next) => handler(req, res).catch(next);
}

/** Which form field a schematic error belongs to: overlay options by line, the rest by the field it names. */
function placeError(message: string, optionLines: [number, number] | undefined): FieldErrors {
  const line = /line (\d+)/.exec(message);
  // A parser may report an unterminated value on the line after it.
  if (optionLines && line && Number(line[1]) >= optionLines[0] && Number(line[1]) <= optionLines[1] + 1) {
    // Count lines the way the user sees them: from the first line of the field.
    return { overlayOptions: message.replace(/line (\d+)/g, (_m, n: string) => `line ${Number(n) - optionLines[0] + 1}`) };
  }
  if (/options/i.test(message) && optionLines) return { overlayOptions: message };
  if (/embeddedMachineConfiguration|machine config/i.test(message)) return { embeddedConfig: message };
  if (/extraKernelArgs|kernel arg/i.test(message)) return { cmdline: message };
  return { form: message };
}

export function uiRoutes(app: Express, deps: UiDeps): void {
  const form = express.text({ type: 'application/x-www-form-urlencoded', limit: MAX_SCHEMATIC_BYTES * 2 });

  /** The schematic behind `schematic-id`, or the reason it cannot be reopened. */
  async function reopened(params: URLSearchParams): Promise<{ schematic?: ParsedSchematic; problem?: string }> {
    const id = params.get('schematic-id');
    if (!id) return {};
    const schematic = SCHEMATIC_ID_PATTERN.test(id) ? await deps.schematics.getParsed(id) : undefined;
    return schematic ? { schematic } : { problem: `Schematic "${id}" was not found on this factory: start a new one below, or paste its YAML.` };
  }

  const wizard = handle(async (req, res) => {
    let params = queryParams(req);
    const existing = await reopened(params);
    if (existing.problem) params.delete('schematic-id');
    if (existing.schematic) params = prefill(params, existing.schematic);
    const step = await resolveStep(params, deps.releases);
    // A GET never creates anything: a fully answered wizard shows its last step, ready to submit.
    const shown: Step = step.name === 'done' ? { name: 'customization', choices: step.choices } : step;
    const values = {
      embeddedConfig: existing.schematic?.schematic.customization.embeddedMachineConfiguration ?? '',
      overlayOptions: existing.schematic ? overlayOptionsText(existing.schematic.canonical) : '',
    };
    const problem = existing.problem ?? shown.problem;
    const status = existing.problem ? 404 : problem ? 400 : 200;
    sendPage(res, status, stepPage({ ...shown, ...(problem && { problem }) }, { filter: params.get('q') ?? '', values }));
  });
  route(app, '/', { GET: wizard, HEAD: wizard });

  const create = handle(async (req, res) => {
    const params = formParams(req);
    const step = await resolveStep(params, deps.releases);
    const values = { embeddedConfig: params.get('embedded-config') ?? '', overlayOptions: params.get('overlay-options') ?? '' };
    if (step.name !== 'done') return sendPage(res, 400, stepPage(step, { filter: '', values }));
    const { text, optionLines } = schematicYaml(step.choices, values);
    let created: ParsedSchematic;
    try {
      created = await deps.schematics.create(text);
    } catch (error) {
      if (!(error instanceof InvalidSchematicError)) throw error;
      const customization: Step = { name: 'customization', choices: step.choices };
      return sendPage(res, 400, stepPage(customization, { filter: '', values, errors: placeError(error.message, optionLines) }));
    }
    deps.onCreated?.(created, clientAddress(req));
    res.redirect(303, resultUrl(created.id, step.choices));
  });
  route(app, '/ui/schematics', { POST: [form, create] });

  const result = handle(async (req, res) => {
    const id = String(req.params.schematic);
    const schematic = await deps.schematics.getParsed(id);
    if (!schematic) return sendPage(res, 404, messagePage('Schematic not found', `Schematic "${id}" was not found on this factory.`));
    const params = queryParams(req);
    params.set('version', String(req.params.version));
    const step = await resolveStep(params, deps.releases, 'arch');
    if (step.name !== 'done') return sendPage(res, 400, messagePage('This link is not complete', step.problem ?? `Choose the ${step.name} first: open the wizard to pick it.`));
    const c = step.choices;
    const links = resultLinks(deps, { schematicId: id, version: c.version, target: c.target, platform: c.platform, arch: c.arch });
    const statuses = await Promise.all(
      links.assets.map(async (link): Promise<AssetState> => {
        try {
          const prepared = await deps.assets.prepare(schematic, c.version, parseAssetPath(link.file));
          return await deps.assets.status(prepared);
        } catch (error) {
          return { state: 'unavailable', error: (error as Error).message };
        }
      }),
    );
    const external = new URL(deps.externalUrl).host;
    const requested = req.headers.host ?? external;
    sendPage(
      res,
      200,
      resultPage({
        choices: { ...c, schematicId: id },
        schematicId: id,
        yaml: schematic.canonical,
        links,
        statuses,
        self: req.originalUrl,
        ...(requested !== external && { hostMismatch: { requested, external } }),
      }),
    );
  });
  route(app, '/ui/result/:schematic/:version', { GET: result });

  const prepare = handle(async (req, res) => {
    const back = formParams(req).get('back') ?? '';
    const schematic = await deps.schematics.getParsed(String(req.params.schematic));
    if (!schematic) return sendPage(res, 404, messagePage('Schematic not found', `Schematic "${String(req.params.schematic)}" was not found on this factory.`));
    try {
      const prepared = await deps.assets.prepare(schematic, parsePathVersion(String(req.params.version)), parseAssetPath(String(req.params.path)));
      deps.assets.start(prepared);
    } catch (error) {
      if (error instanceof VersionNotAvailableError) return sendPage(res, 404, messagePage('Cannot prepare this file', error.message));
      if (!UNBUILDABLE.some((kind) => error instanceof kind)) throw error;
      return sendPage(res, 400, messagePage('Cannot prepare this file', (error as Error).message));
    }
    // Back to the result page it came from (only a page of this UI: never an open redirect).
    res.redirect(303, /^\/ui\/result\/[\x21-\x7e]*$/.test(back) ? back : `/?schematic-id=${schematic.id}`);
  });
  route(app, '/ui/prepare/:schematic/:version/:path', { POST: [form, prepare] });

  async function renderPaste(res: Response, status: number, fields: { yaml: string; version?: string; platform?: string; arch?: string }, errors: FieldErrors & { yaml?: string }): Promise<void> {
    const versions = [...(await deps.releases.versions())].reverse();
    const stable = await deps.releases.newestStable();
    const platforms = allPlatforms()
      .filter((p) => p.listing)
      .map((p) => ({ name: p.name, label: p.listing!.label }));
    sendPage(res, status, pastePage({ ...fields, versions, ...(stable && { defaultVersion: stable }), platforms, errors }));
  }

  const pasteForm = handle((_req, res) => renderPaste(res, 200, { yaml: '' }, {}));
  const pasteCreate = handle(async (req, res) => {
    const params = formParams(req);
    const fields = { yaml: params.get('yaml') ?? '', version: params.get('version') ?? '', platform: params.get('platform') ?? '', arch: params.get('arch') ?? '' };
    // The target the wizard would have reached: metal, or a cloud platform.
    const target = new URLSearchParams({ target: fields.platform === 'metal' ? 'metal' : 'cloud', version: fields.version, platform: fields.platform, arch: fields.arch });
    const step = await resolveStep(target, deps.releases, 'arch');
    if (step.name !== 'done') return renderPaste(res, 400, fields, { form: step.problem ?? 'Choose a version, a platform and an architecture.' });
    let created: ParsedSchematic;
    try {
      created = await deps.schematics.create(fields.yaml);
    } catch (error) {
      if (!(error instanceof InvalidSchematicError)) throw error;
      return renderPaste(res, 400, fields, { yaml: error.message });
    }
    deps.onCreated?.(created, clientAddress(req));
    res.redirect(303, resultUrl(created.id, step.choices));
  });
  route(app, '/ui/paste', { GET: pasteForm, POST: [form, pasteCreate] });

  for (const file of Object.values(STATIC_FILES)) {
    const serve: RequestHandler = (req, res) => {
      res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
      res.setHeader('ETag', file.etag);
      if (req.headers['if-none-match'] === file.etag) return void res.status(304).end();
      res.setHeader('X-Content-Type-Options', 'nosniff');
      res.status(200).setHeader('Content-Type', file.contentType);
      res.setHeader('Content-Length', file.body.length);
      res.end(file.body);
    };
    route(app, file.url, { GET: serve, HEAD: serve });
  }
}
