// Headless Chromium for the web view's browser tests: Debian's `chromium` package (never a downloaded browser) driven
// by playwright-core, with a fresh profile per launch; every page's console errors, uncaught exceptions, Content-
// Security-Policy violations and dialogs are collected so that a test can assert there were none.
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { tempDir } from './dirs.js';
import { ROOT } from './server-process.js';

export const CHROMIUM = process.env.PATCHBAY_CHROMIUM ?? '/usr/bin/chromium';
/** Why a browser test cannot run here, or false. */
export const CHROMIUM_SKIP: string | false = fs.existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (Debian's chromium package; .ci/setup installs it)`;
/** Screenshots of the test runs, for a person to look at (gitignored). */
export const SCREENSHOTS = path.join(ROOT, 'test-output', 'screenshots');

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** What went wrong in the pages, each line naming the page's URL. */
export interface Problems {
  console: string[];
  pageErrors: string[];
  csp: string[];
  dialogs: string[];
}

export interface TestBrowser {
  context: BrowserContext;
  /** A new tab whose problems are collected. */
  newPage(): Promise<Page>;
  problems: Problems;
  /** Every problem so far, one line each (empty when none). */
  allProblems(): string[];
  /** A full-page PNG in SCREENSHOTS; returns its path. */
  screenshot(page: Page, name: string): Promise<string>;
  close(): Promise<void>;
}

/** The browser requests /favicon.ico by itself; the pages link none, so its 404 is no page's fault. */
const isFaviconMiss = (url: string) => new URL(url, 'http://x').pathname === '/favicon.ico';

export async function launchBrowser(): Promise<TestBrowser> {
  const profile = tempDir('patchbay-chromium-');
  // launchPersistentContext is playwright's way to give Chromium its --user-data-dir (launch() refuses the flag).
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1280, height: 900 } });
  const problems: Problems = { console: [], pageErrors: [], csp: [], dialogs: [] };
  // The page reports its CSP violations through a binding: it works whatever the page's CSP (no script of ours runs in it).
  await context.exposeBinding('__patchbayCspViolation', ({ page }, text: string) => {
    problems.csp.push(`${page.url()}: ${text}`);
  });
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      const report = (window as unknown as { __patchbayCspViolation?: (t: string) => void }).__patchbayCspViolation;
      report?.(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'} (${e.sourceFile}:${e.lineNumber}) ${e.sample}`);
    });
  });
  const watch = (page: Page) => {
    page.on('console', (m) => {
      if (m.type() !== 'error') return;
      if (isFaviconMiss(m.location().url || 'http://x/')) return;
      problems.console.push(`${page.url()}: ${m.text()} (${m.location().url}:${m.location().lineNumber})`);
    });
    page.on('pageerror', (e) => problems.pageErrors.push(`${page.url()}: ${e.stack ?? e.message}`));
    page.on('dialog', (d) => {
      problems.dialogs.push(`${page.url()}: ${d.type()} ${JSON.stringify(d.message())}`);
      void d.dismiss().catch(() => undefined);
    });
  };
  for (const p of context.pages()) watch(p);
  context.on('page', watch);
  return {
    context,
    problems,
    newPage: () => context.newPage(),
    allProblems: () => [
      ...problems.console.map((p) => `console error: ${p}`),
      ...problems.pageErrors.map((p) => `page error: ${p}`),
      ...problems.csp.map((p) => `CSP violation: ${p}`),
      ...problems.dialogs.map((p) => `dialog: ${p}`),
    ],
    async screenshot(page, name) {
      fs.mkdirSync(SCREENSHOTS, { recursive: true });
      const file = path.join(SCREENSHOTS, `${name}.png`);
      await page.screenshot({ path: file, fullPage: true });
      return file;
    },
    async close() {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}
