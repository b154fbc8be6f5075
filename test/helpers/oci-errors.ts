// The OciError a promise rejects with (the test fails when it resolves or throws something else).

import { expect } from 'vitest';
import { OciError } from '../../src/oci/errors.js';

export async function rejection(promise: Promise<unknown>): Promise<OciError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(OciError);
  return error as OciError;
}
