// setup-student's script: the sendemail settings in order, STARTTLS when the server offers it, words safe for sh.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sendemailScript, sendemailSettings } from '../../src/cli/setup-student.command.js';

describe('setup-student script', () => {
  it('asks git for STARTTLS when the server has a certificate, and for no encryption otherwise', () => {
    const t = { list: 'lab@lists.example.edu', server: 'lab.example.edu', port: 587, starttls: true };
    assert.deepEqual(new Map(sendemailSettings(t)).get('sendemail.smtpEncryption'), 'tls');
    assert.deepEqual(new Map(sendemailSettings({ ...t, starttls: false })).get('sendemail.smtpEncryption'), 'none');
  });

  it('quotes a value sh would split or expand, and leaves plain ones bare', () => {
    const script = sendemailScript('lab', { list: 'lab@lists.example.edu', server: "it's $HOME", port: 2525, starttls: false });
    assert.match(script, /^git config sendemail\.smtpServer 'it'\\''s \$HOME'$/m);
    assert.match(script, /^git config sendemail\.to lab@lists\.example\.edu$/m);
    assert.match(script, /^# git send-email to lab@lists\.example\.edu \(project lab\)/);
  });
});
