// A small cookie-keeping browser over real HTTP (fetch) for tests of a server process: it logs in through the login
// form, reads a form's CSRF field from a page and posts forms as a browser does (urlencoded, Accept: text/html),
// without following redirects, so a test sees the 303 and where it goes.

export interface HttpPage {
  status: number;
  location: string | null;
  body: string;
  json(): any;
}

/** The value of the hidden csrf field of the form posting to `action` in a page. */
export function formCsrf(html: string, action: string): string {
  const form = new RegExp(`<form[^>]*action="${action.replace(/[/.]/g, '\\$&')}"[^>]*>([\\s\\S]*?)</form>`).exec(html);
  const m = form && /<input type="hidden" name="csrf" value="([^"]*)"/.exec(form[1]!);
  if (!m) throw new Error(`no csrf field in a form posting to ${action}`);
  return m[1]!;
}

export class HttpBrowser {
  readonly cookies = new Map<string, string>();

  constructor(readonly baseUrl: string) {}

  async request(method: string, url: string, o: { form?: Record<string, string>; headers?: Record<string, string> } = {}): Promise<HttpPage> {
    const cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const headers: Record<string, string> = { accept: 'text/html', ...(cookie ? { cookie } : {}), ...(o.headers ?? {}) };
    let body: string | undefined;
    if (o.form) {
      body = new URLSearchParams(o.form).toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    }
    const res = await fetch(`${this.baseUrl}${url}`, { method, headers, body, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair, ...attrs] = c.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      if (attrs.some((a) => /^\s*max-age=0\s*$/i.test(a))) this.cookies.delete(name);
      else this.cookies.set(name, pair!.slice(eq + 1).trim());
    }
    const text = await res.text();
    return { status: res.status, location: res.headers.get('location'), body: text, json: () => JSON.parse(text) };
  }

  get(url: string, headers: Record<string, string> = {}): Promise<HttpPage> {
    return this.request('GET', url, { headers });
  }

  post(url: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<HttpPage> {
    return this.request('POST', url, { form, headers });
  }

  /** Logs in through GET and POST /login/; throws unless the server answers the login with its 303. */
  static async login(baseUrl: string, username: string, password: string): Promise<HttpBrowser> {
    const b = new HttpBrowser(baseUrl);
    const form = await b.get('/login/');
    const r = await b.post('/login/', { username, password, csrf: formCsrf(form.body, '/login/') });
    if (r.status !== 303) throw new Error(`login as ${username}: ${r.status} ${r.body.slice(0, 300)}`);
    return b;
  }
}
