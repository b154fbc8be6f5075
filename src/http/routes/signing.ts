// GET /oci/cosign/signing-key.pub: the public key installers are signed with,
// at upstream's path, for `cosign verify --key` and container policies.

import type { Express } from 'express';
import type { CosignSigner } from '../../oci/cosign/signer.js';
import { route, sendText } from '../routing.js';

export function signingRoutes(app: Express, signer: CosignSigner): void {
  route(app, '/oci/cosign/signing-key.pub', {
    GET: (_req, res) => sendText(res, 200, 'application/x-pem-file', signer.publicKeyPem),
  });
}
