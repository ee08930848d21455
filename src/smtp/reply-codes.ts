// The SMTP wire table: AppError kinds and codes to reply codes with RFC 3463 enhanced status codes. No other file writes one.
import { AppError } from '../errors.js';

export interface SmtpReplyError extends Error {
  responseCode: number;
}

const BY_CODE: Record<string, [number, string]> = {
  no_such_user: [550, '5.1.1'], // RFC 3463 §3.2: bad destination mailbox address
  relay_denied: [550, '5.7.1'], // RFC 5321 §3.6.2: we are not a relay
  too_many_recipients: [452, '4.5.3'], // RFC 5321 §4.5.3.1.10
  message_too_big: [552, '5.3.4'], // RFC 1870 §6.1
  too_many_connections: [421, '4.7.0'],
  server_busy: [421, '4.4.5'], // RFC 3463 §3.5: mail system congestion
  // RFC 5321 §3.8 and §7.8: a server closes only with 421; RFC 3463 §3.5 X.4.2: bad connection (timeouts).
  session_timeout: [421, '4.4.2'],
  data_timeout: [421, '4.4.2'],
  data_too_slow: [421, '4.4.2'],
  // RFC 2920 §3.1 (DATA ends a group) and RFC 5321 §3.3 (no message data without a 354); RFC 3463 §3.6 X.5.0.
  early_data: [421, '4.5.0'],
  too_many_messages: [450, '4.7.1'],
  store_failed: [451, '4.3.0'],
  shutting_down: [421, '4.3.2'],
};

const BY_KIND: Record<AppError['kind'], [number, string]> = {
  invalid: [550, '5.6.0'],
  not_found: [550, '5.1.1'],
  forbidden: [550, '5.7.1'],
  unauthenticated: [530, '5.7.0'], // RFC 4954 §6: authentication required (never raised on the SMTP edge)
  not_allowed: [550, '5.5.1'], // RFC 3463 §3.6: invalid command (never raised on the SMTP edge)
  conflict: [450, '4.2.0'],
  unavailable: [451, '4.3.0'],
  too_large: [552, '5.3.4'],
  rate_limited: [450, '4.7.1'],
  internal: [451, '4.3.0'],
};

/** Turns an application error into the Error smtp-server expects: a reply code and a message with its enhanced code. */
export function toSmtpError(e: unknown): SmtpReplyError {
  const app = e instanceof AppError ? e : new AppError('internal', 'internal', 'local error in processing');
  const [code, enhanced] = BY_CODE[app.code] ?? BY_KIND[app.kind];
  const err = new Error(`${enhanced} ${app.message}`) as SmtpReplyError;
  err.responseCode = code;
  return err;
}

/**
 * How a failed delivery to the smarthost counts (RFC 5321 §4.2.1): a 5yz reply is permanent (a bounce); a 4yz reply,
 * or none at all (connection refused, timeout), is transient and retried.
 */
export function deliveryFailure(responseCode: number | undefined): 'permanent' | 'transient' {
  return responseCode !== undefined && responseCode >= 500 && responseCode <= 599 ? 'permanent' : 'transient';
}
