// POST /schematics and GET /schematics/:id, with upstream's status codes and bodies.

import express, { type Express } from 'express';
import type { SchematicService } from '../../schematic/index.js';
import type { ParsedSchematic } from '../../schematic/schematic.js';
import { goJson } from '../go-json.js';
import { clientAddress, route, sendError, sendText } from '../routing.js';

/** Upstream reads bodies without a limit; we cap them. */
export const MAX_SCHEMATIC_BYTES = 1024 * 1024;

/** Called after a schematic was created (e.g. to start building what it will be asked for). */
export type SchematicCreated = (schematic: ParsedSchematic, client: string) => void;

export function schematicRoutes(app: Express, schematics: SchematicService, onCreated?: SchematicCreated): void {
  const body = express.raw({ type: () => true, limit: MAX_SCHEMATIC_BYTES });

  route(app, '/schematics', {
    POST: [
      body,
      async (req, res, next) => {
        try {
          const raw: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
          const created = await schematics.create(raw);
          sendText(res, 201, 'application/json', goJson({ id: created.id, schematic: created.canonical }));
          onCreated?.(created, clientAddress(req));
        } catch (e) {
          next(e); // the one error mapping answers an invalid schematic 400 with its message
        }
      },
    ],
  });

  route(app, '/schematics/:id', {
    GET: async (req, res, next) => {
      try {
        const canonical = await schematics.get(String(req.params.id));
        if (canonical === undefined) return sendError(res, 404, 'schematic not found');
        sendText(res, 200, 'application/yaml', canonical);
      } catch (e) {
        next(e);
      }
    },
  });
}
