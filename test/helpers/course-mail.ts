// The demo course's mail as its tests send it: `git format-patch` files from a folder, sent with `git send-email`
// as one thread (known Message-IDs, the cover answered by the patches) from the course's student to its list.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from './dirs.js';
import { STUDENT } from './pipeline-e2e.js';
import { runCommand } from './run-command.js';
import type { ServerProcess } from './server-process.js';

export { STUDENT };
export const LIST = 'proctree@lists.patchbay.test';

export const folder = (dir: string) =>
  fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.patch'))
    .sort()
    .map((f) => path.join(dir, f));

/** Sends `git format-patch` files as one thread (the cover answered by the patches); v2 answers v1's cover. */
export async function sendFolder(server: ServerProcess, files: string[], o: { version?: number; inReplyTo?: string } = {}): Promise<string> {
  const out = tempDir('patchbay-send-');
  const tag = crypto.randomBytes(6).toString('hex');
  const root = `cover.${tag}@students.example.org`;
  const copies = files.map((f, i) => {
    let text = fs.readFileSync(f, 'utf8');
    if (o.version) text = text.replace(/^Subject: \[PATCH /m, `Subject: [PATCH v${o.version} `);
    const up = i === 0 ? (o.inReplyTo ? `In-Reply-To: <${o.inReplyTo}>\nReferences: <${o.inReplyTo}>\n` : '') : `In-Reply-To: <${root}>\nReferences: <${root}>\n`;
    text = text.replace(/^Subject:/m, `Message-Id: <${i === 0 ? root : `patch${i}.${tag}@students.example.org`}>\n${up}Subject:`);
    const dest = path.join(out, path.basename(f));
    fs.writeFileSync(dest, text);
    return dest;
  });
  const home = tempDir('patchbay-home-');
  const r = await runCommand(
    'git',
    ['send-email', '--quiet', '--confirm=never', '--suppress-cc=all', '--no-thread', '--smtp-server=127.0.0.1', `--smtp-server-port=${server.smtpPort}`, `--from=${STUDENT.name} <${STUDENT.email}>`, `--to=${LIST}`, ...copies],
    { cwd: out, env: { ...process.env, HOME: home, GIT_CONFIG_NOSYSTEM: '1' } },
  );
  assert.equal(r.code, 0, r.output);
  return root;
}
