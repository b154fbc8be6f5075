// Random and mutated bodies against the real service: every answer is 201 or
// a 4xx, never a 5xx, and the service stays up.

import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type ServiceProcess } from '../helpers/server.js';

let svc: ServiceProcess;
beforeAll(async () => {
  svc = await startService();
});
afterAll(async () => {
  await svc.stop();
});

const seeds = [
  'customization:\n  extraKernelArgs:\n    - nolapic\n  meta:\n    - key: 0xa\n      value: "{}"\n  systemExtensions:\n    officialExtensions: [siderolabs/gvisor]\n',
  'overlay:\n  image: siderolabs/sbc-raspberrypi\n  name: rpi_generic\n  options:\n    configTxtAppend: |\n      dtoverlay=x\n    list: [&a {b: 1}, *a, {<<: *a, c: 2}]\n',
  '{"customization": {"bootloader": "sd-boot", "secureboot": {"includeWellKnownCertificates": true}, "diskImage": {"sectorSize": 4096}}}',
];

/** A seed with a few bytes deleted, replaced or inserted. */
const mutated = fc
  .tuple(
    fc.constantFrom(...seeds),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 2 }), fc.constantFrom(...' \n\t:-#&*!|>[]{},\'"%@`0a\u00e9\u0000\u2028'.split(''))), {
      minLength: 1,
      maxLength: 4,
    }),
  )
  .map(([seed, edits]) => {
    const chars = [...seed];
    for (const [at, op, c] of edits) {
      const i = at % (chars.length + 1);
      if (op === 0) chars.splice(i, 1);
      else if (op === 1) chars.splice(i, 1, c);
      else chars.splice(i, 0, c);
    }
    return Buffer.from(chars.join(''), 'utf8');
  });

const randomBytes = fc.uint8Array({ maxLength: 512 }).map((a) => Buffer.from(a));
const randomText = fc.string({ unit: 'binary', maxLength: 300 }).map((s) => Buffer.from(s, 'utf8'));

describe('fuzzing POST /schematics', () => {
  it('never answers 5xx and keeps serving', async () => {
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(fc.oneof(mutated, randomBytes, randomText), async (body) => {
        const res = await fetch(`${svc.url}/schematics`, { method: 'POST', body });
        await res.arrayBuffer();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        expect([201, 400]).toContain(res.status);
      }),
      { numRuns: 600 },
    );
    // Both outcomes were exercised, and the service still answers.
    expect(statuses.get(201)).toBeGreaterThan(0);
    expect(statuses.get(400)).toBeGreaterThan(0);
    expect((await fetch(`${svc.url}/healthz`)).status).toBe(200);
  });
});
