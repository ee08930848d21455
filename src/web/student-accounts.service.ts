// Students' accounts (issue 14): made from the roster, and the single-use links that set their password — the
// first-login mail after an import, and the password reset — mailed through the outbound queue.
import crypto from 'node:crypto';
import { hashPassword } from '../api/credentials.js';
import type { Db, DbOrTx } from '../db/database.js';
import { enqueueOutbound } from '../db/outbound.repository.js';
import {
  insertPasswordToken,
  livePasswordToken,
  rosterProjectsOf,
  studentsWithoutAccount,
  type AccountlessStudent,
  usePasswordToken,
  usernameTaken,
  voidPasswordTokens,
} from '../db/password-token.repository.js';
import { deleteUserSessions } from '../db/session.repository.js';
import { findUserByEmail, insertUser, updateUser } from '../db/user.repository.js';
import { invalid, notFound } from '../errors.js';
import { composeMail } from '../mail/compose.js';

/** A first-login link lasts a week (an import before term starts); a reset link an hour. */
export const LINK_LIFETIME_MS = { 'first-login': 7 * 24 * 3_600_000, reset: 3_600_000 } as const;
export type LinkPurpose = keyof typeof LINK_LIFETIME_MS;
/** NIST SP 800-63B §5.1.1.2: at least 8 characters; a passphrase may be long, the hash takes any length. */
const MIN_PASSWORD = 8;
const MAX_PASSWORD = 1024;

export interface AccountsProject {
  id: number;
  name: string;
  addresses: { bounces: string; request: string };
}

export interface StudentAccountsDeps {
  db: Db;
  projects: readonly AccountsProject[];
  /** The public base URL of the web view (links in the mail); read when a mail is written. */
  baseUrl: () => string;
  hostname: string;
  /** Wakes the outbound queue after a commit that queued a mail. */
  kick: () => void;
  now?: () => number;
}

const sha256 = (s: string) => crypto.createHash('sha256').update(s, 'utf8').digest('hex');

export function createStudentAccounts(deps: StudentAccountsDeps) {
  const { db } = deps;
  const now = deps.now ?? Date.now;
  const byId = new Map(deps.projects.map((p) => [p.id, p]));

  /** Queues a link mail to the user; the token is kept only as its sha256. */
  async function queueLink(tx: DbOrTx, user: { id: number; email: string; username: string }, purpose: LinkPurpose, project: AccountsProject, requestBase?: string): Promise<void> {
    const token = crypto.randomBytes(32).toString('base64url');
    const t = now();
    await voidPasswordTokens(tx, user.id, new Date(t).toISOString());
    await insertPasswordToken(tx, { userId: user.id, tokenHash: sha256(token), purpose, now: new Date(t).toISOString(), expiresAt: new Date(t + LINK_LIFETIME_MS[purpose]).toISOString() });
    const base = (deps.baseUrl() || requestBase || '').replace(/\/$/, '');
    // A link in a mail must be absolute: a command run outside the server knows the URL only from --base-url.
    if (!/^https?:\/\//.test(base)) throw invalid('base_url_missing', 'password links need the public URL of the web view: set --base-url (PATCHBAY_BASE_URL)');
    const link = `${base}/password/set/${token}/`;
    const hours = LINK_LIFETIME_MS[purpose] / 3_600_000;
    const text =
      purpose === 'first-login'
        ? `Hello,\n\nAn account was made for you on ${project.name}: your login is ${user.username}.\nSet your password here (the link works once, for ${hours / 24} days):\n\n  ${link}\n\nThen log in to see your series, their results and your grade.\n`
        : `Hello,\n\nSomeone (you, we hope) asked to reset the password of ${user.username} on ${project.name}.\nSet a new one here (the link works once, for ${hours} hour${hours === 1 ? '' : 's'}):\n\n  ${link}\n\nIf you did not ask, ignore this mail: your password stays as it is.\n`;
    const mail = await composeMail({
      hostname: deps.hostname,
      from: { address: project.addresses.request, name: project.name },
      to: { address: user.email },
      subject: purpose === 'first-login' ? `Your account on ${project.name}` : `Password reset on ${project.name}`,
      text,
      autoSubmitted: 'auto-generated',
    });
    // From the bounce address (RFC 3834 §3.3), as every mail of ours no one answers.
    await enqueueOutbound(tx, [{ projectId: project.id, kind: `password-${purpose}`, envelopeFrom: project.addresses.bounces, rcpt: mail.to, raw: mail.raw }]);
  }

  /** An account for a roster student (role student, no password), with a first-login link mailed. */
  async function makeAccount(tx: DbOrTx, s: AccountlessStudent, project: AccountsProject, requestBase?: string): Promise<void> {
    // A login already taken by another account (a maintainer "ada") gets the project id after it.
    const username = (await usernameTaken(tx, s.login)) ? `${s.login}.${project.id}` : s.login;
    const [first = '', ...rest] = s.name.split(/\s+/);
    const id = await insertUser(tx, { username, email: s.email, firstName: first, lastName: rest.join(' '), role: 'student', passwordHash: null });
    await queueLink(tx, { id, email: s.email, username }, 'first-login', project, requestBase);
  }

  return {
    /**
     * Makes an account (role student, no password) for each roster student of the project who has none, named by
     * their login, with their roster's first address; and mails each a first-login link. Returns the logins.
     */
    async createAccounts(projectId: number): Promise<string[]> {
      const project = byId.get(projectId);
      if (!project) throw notFound('project_unknown', `no project with id ${projectId}`);
      const made = await db.transaction().execute(async (tx) => {
        const logins: string[] = [];
        for (const s of await studentsWithoutAccount(tx, projectId)) {
          await makeAccount(tx, s, project);
          logins.push(s.login);
        }
        return logins;
      });
      if (made.length) deps.kick();
      return made;
    },

    /**
     * The reset form: mails a link to the account with this email, if there is one and it is on a roster. The
     * answer is the same either way, so the form does not tell who has an account.
     */
    /** @param requestBase the web request's own base URL, when no public base URL is configured */
    async requestReset(email: string, requestBase?: string): Promise<void> {
      const user = await findUserByEmail(db, email.trim());
      if (!user) {
        // A roster student without an account yet (the import made none): this is their first login.
        const address = email.trim().toLowerCase();
        for (const projectId of await rosterProjectsOf(db, address)) {
          const project = byId.get(projectId);
          const s = project && (await studentsWithoutAccount(db, projectId)).find((x) => x.emails.includes(address));
          if (!project || !s) continue;
          await db.transaction().execute((tx) => makeAccount(tx, s, project, requestBase));
          deps.kick();
          return;
        }
        return;
      }
      const projectId = (await rosterProjectsOf(db, user.email)).find((id) => byId.has(id));
      const project = projectId === undefined ? deps.projects[0] : byId.get(projectId);
      if (!project) return;
      await db.transaction().execute((tx) => queueLink(tx, user, 'reset', project, requestBase));
      deps.kick();
    },

    /** Whether the link is live (the page asks before showing its form). */
    async linkIsLive(token: string): Promise<boolean> {
      return (await livePasswordToken(db, sha256(token), new Date(now()).toISOString())) !== undefined;
    },

    /** Sets the password with a live link and uses it up; every session of the account ends. */
    async setPassword(token: string, password: string): Promise<void> {
      if (password.length < MIN_PASSWORD) throw invalid('password_short', `the password needs at least ${MIN_PASSWORD} characters`);
      if (password.length > MAX_PASSWORD) throw invalid('password_long', `the password may have at most ${MAX_PASSWORD} characters`);
      const hash = await hashPassword(password);
      const iso = new Date(now()).toISOString();
      await db.transaction().execute(async (tx) => {
        const t = await livePasswordToken(tx, sha256(token), iso);
        if (!t || !(await usePasswordToken(tx, t.id, iso))) throw notFound('password_link_dead', 'This link was used already or has expired: ask for a new one.');
        await updateUser(tx, t.user_id, { password_hash: hash });
        await deleteUserSessions(tx, t.user_id);
      });
    },
  };
}

export type StudentAccounts = ReturnType<typeof createStudentAccounts>;
