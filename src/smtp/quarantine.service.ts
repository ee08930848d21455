// The quarantine: mails whose processing failed on every attempt (threw, ran past the time budget, or took the
// process down), kept with the error; listed for admins (web and CLI) and retried by hand, one attempt at a time.
import type { Db } from '../db/database.js';
import { nowIso } from '../db/database.js';
import { getMail } from '../db/mail.repository.js';
import { listQuarantined, releaseQuarantined, type QuarantinedMail } from '../db/mail-attempts.repository.js';
import type { MailState } from '../db/schema.js';
import { conflict, notFound } from '../errors.js';

export interface QuarantineEntry extends QuarantinedMail {
  /** The project's slug ('' for a project no longer configured). */
  project: string;
}

export class QuarantineService {
  constructor(
    private readonly db: Db,
    private readonly projects: readonly { id: number; slug: string }[],
    /** ProcessingOptions.maxAttempts: a retry gives the mail one more of them. */
    private readonly maxAttempts: number,
    /** Processes the released mail: the server queues it (returns nothing); the CLI processes it and says how it ended. */
    private readonly process: (id: number) => Promise<MailState | null | void> | void,
  ) {}

  async list(q: { limit: number; offset: number }): Promise<{ total: number; mails: QuarantineEntry[] }> {
    const r = await listQuarantined(this.db, q);
    const slugOf = new Map(this.projects.map((p) => [p.id, p.slug]));
    return { total: r.total, mails: r.rows.map((m) => ({ ...m, project: slugOf.get(m.projectId) ?? '' })) };
  }

  /** Why the mail is quarantined (its last error); null when it is not. */
  async error(id: number): Promise<string | null> {
    const mail = await getMail(this.db, id);
    return mail?.state === 'quarantined' ? mail.reason : null;
  }

  /**
   * Puts the mail back in state `stored` with one attempt left and processes it: it is filed as any mail, or comes
   * back to the quarantine with the new error. One attempt, not a fresh set: a mail that takes the process down
   * costs at most one more crash per retry.
   */
  async retry(id: number): Promise<MailState | null | void> {
    if (!(await releaseQuarantined(this.db, id, this.maxAttempts - 1, nowIso()))) {
      const mail = await getMail(this.db, id);
      if (!mail) throw notFound('mail_unknown', `no mail ${id}`);
      throw conflict('not_quarantined', `mail ${id} is not quarantined (it is ${mail.state})`);
    }
    return this.process(id);
  }
}
