// How every page of the UI is sent: HTML with a Content-Security-Policy that
// allows only this origin's script, styles and forms (a value that escaped
// escaping still could not run), never cached (pages show live state).

import type { Response } from 'express';
import { sendText } from '../routing.js';

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

export function sendPage(res: Response, status: number, body: string): void {
  res.setHeader('Content-Security-Policy', CSP);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Cache-Control', 'no-store');
  sendText(res, status, 'text/html; charset=utf-8', body);
}
