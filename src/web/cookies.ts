// Cookies without a dependency: the Cookie request header (RFC 6265 §5.4) read into a map, Set-Cookie values written.

/** name → value of a Cookie header; the first of a repeated name wins (the most specific path, RFC 6265 §5.4). */
export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!header) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (!name || out.has(name)) continue;
    try {
      out.set(name, decodeURIComponent(value));
    } catch {
      out.set(name, value);
    }
  }
  return out;
}

export interface CookieOptions {
  /** Seconds; 0 removes the cookie. Omitted: a session cookie (gone when the browser closes). */
  maxAge?: number;
  secure: boolean;
  sameSite?: 'Lax' | 'Strict';
  /** Default `/`. */
  path?: string;
}

/** One Set-Cookie value: HttpOnly, Path=/, SameSite=Lax unless told otherwise; Secure over https. */
export function serializeCookie(name: string, value: string, o: CookieOptions): string {
  const parts = [`${name}=${encodeURIComponent(value)}`, `Path=${o.path ?? '/'}`, 'HttpOnly', `SameSite=${o.sameSite ?? 'Lax'}`];
  if (o.maxAge !== undefined) parts.push(`Max-Age=${Math.max(0, Math.floor(o.maxAge))}`);
  if (o.secure) parts.push('Secure');
  return parts.join('; ');
}
