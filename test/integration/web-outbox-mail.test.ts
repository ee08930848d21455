// The admin's outbox opens a mail in full (issue 14): a page per outbound mail with its envelope, header block and
// text (escaped), and its exact bytes as a download; for admins only.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { enqueueOutbound } from '../../src/db/outbound.repository.js';
import { composeMail } from '../../src/mail/compose.js';
import { startWebApp, type WebApp } from '../helpers/web-app.js';

describe('an outbound mail opened from the outbox', () => {
  let w: WebApp;
  let id: number;
  let raw: Buffer;

  before(async () => {
    w = await startWebApp();
    // A report as the pipeline queues it, quoting what a student wrote (markup included).
    const mail = await composeMail({
      hostname: 'patchbay.example.org',
      from: { name: 'patchbay CI', address: 'proctree-bot@lists.example.org' },
      to: [{ name: 'Zoé Étudiante', address: 'zoe@students.example.org' }],
      replyTo: [{ address: 'proctree-bot@lists.example.org' }, { address: 'teacher@example.org' }],
      subject: 'Re: [PATCH] proctree: <script>alert(1)</script>',
      text: 'Hi Zoé,\nYour patch says <b>hello</b> & goodbye.\n',
      autoSubmitted: 'auto-generated',
    });
    raw = mail.raw;
    const ids = await enqueueOutbound(w.h.db, [{ projectId: w.project.id, kind: 'report', envelopeFrom: 'proctree-bounces@lists.example.org', rcpt: 'zoe@students.example.org', raw }]);
    id = ids[0]!;
  });
  after(() => w.close());

  it('shows an admin the envelope, header block and text of the mail, escaped, linked from the outbox list', async () => {
    const admin = await w.login('admin');
    const list = await admin.get('/admin/outbox/');
    assert.match(list.body, new RegExp(`<td><a href="/admin/outbox/${id}/">${id}</a></td>`));
    const page = await admin.get(`/admin/outbox/${id}/`);
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /<h1>Outbound mail \d+<\/h1>/);
    assert.match(page.body, /<td class="mono">proctree-bounces@lists\.example\.org<\/td>/);
    assert.match(page.body, /<td class="mono">zoe@students\.example\.org<\/td>/);
    assert.match(page.body, /<h2 id="outbox-subject">Re: \[PATCH\] proctree: &lt;script&gt;alert\(1\)&lt;\/script&gt;<\/h2>/);
    const header = /<pre id="outbox-header">([\s\S]*?)<\/pre>/.exec(page.body)?.[1] ?? '';
    assert.match(header, /^Reply-To: proctree-bot@lists\.example\.org, teacher@example\.org$/m);
    assert.match(header, /^Auto-Submitted: auto-generated$/m);
    const text = /<pre id="outbox-text">([\s\S]*?)<\/pre>/.exec(page.body)?.[1] ?? '';
    assert.equal(text, 'Hi Zoé,\nYour patch says &lt;b&gt;hello&lt;/b&gt; &amp; goodbye.\n');
    assert.ok(!page.body.includes('<script>alert'), 'the subject was rendered as markup');
    assert.match(page.body, new RegExp(`<a id="outbox-raw" href="/admin/outbox/${id}/raw">`));
  });

  it('downloads the exact bytes that go out as an .eml file', async () => {
    const admin = await w.login('admin');
    const r = await admin.get(`/admin/outbox/${id}/raw`);
    assert.equal(r.statusCode, 200);
    assert.match(String(r.headers['content-type']), /^message\/rfc822/);
    assert.equal(r.headers['content-disposition'], `attachment; filename=outbound-${id}.eml`);
    assert.ok(r.rawPayload.equals(raw), 'the download differs from the queued bytes');
  });

  it('answers 404 for a mail that does not exist, and keeps the mail from anyone but an admin', async () => {
    const admin = await w.login('admin');
    assert.equal((await admin.get(`/admin/outbox/${id + 1000}/`)).statusCode, 404);
    const teacher = await w.login('teacher');
    assert.equal((await teacher.get(`/admin/outbox/${id}/`)).statusCode, 403);
    assert.equal((await teacher.get(`/admin/outbox/${id}/raw`)).statusCode, 403);
    const anonymous = await w.browser().get(`/admin/outbox/${id}/raw`);
    assert.equal(anonymous.statusCode, 303);
    assert.match(String(anonymous.headers.location), /^\/login\//);
  });
});
