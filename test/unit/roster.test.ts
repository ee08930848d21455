// Roster CSV parsing: header row, quoted fields with commas, several emails, and refusals with their line numbers.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { diffRoster, parseRoster } from '../../src/config/roster.js';

describe('roster parsing', () => {
  it('reads login, name and every email, skipping the header row, comments and blank lines', () => {
    const r = parseRoster(
      'login,name,email\n# first group\nalice,"Liddell, Alice",Alice@Example.com,alice@home.example\n\nbob,Bob Builder,bob@example.com\n',
    );
    assert.deepEqual(r, {
      ok: true,
      entries: [
        { login: 'alice', name: 'Liddell, Alice', emails: ['alice@example.com', 'alice@home.example'] },
        { login: 'bob', name: 'Bob Builder', emails: ['bob@example.com'] },
      ],
    });
  });

  it('reads a file without a header row, with CRLF line ends and an Excel BOM', () => {
    const r = parseRoster('\ufeffcarol,Carol,carol@example.com\r\ndave,"Dave ""the Rave""",dave@example.com\r\n');
    assert.ok(r.ok);
    assert.deepEqual(
      r.entries.map((e) => [e.login, e.name]),
      [
        ['carol', 'Carol'],
        ['dave', 'Dave "the Rave"'],
      ],
    );
  });

  const refusals: [string, string, { line: number; reason: RegExp }[]][] = [
    ['a line with no email', 'login,name,email\nalice,Alice\n', [{ line: 2, reason: /no email address for login "alice"/ }]],
    ['a bad email', 'alice,Alice,alice-at-example.com\n', [{ line: 1, reason: /"alice-at-example.com" is not an email address/ }]],
    ['an empty login', ',Nobody,n@example.com\n', [{ line: 1, reason: /login is empty/ }]],
    ['a login with spaces', 'al ice,Alice,a@example.com\n', [{ line: 1, reason: /login "al ice" must be/ }]],
    ['an empty name', 'alice,,a@example.com\n', [{ line: 1, reason: /name is empty/ }]],
    ['a login twice', 'alice,A,a@example.com\nbob,B,b@example.com\nalice,A2,a2@example.com\n', [{ line: 3, reason: /login "alice" is already on line 1/ }]],
    ['an email shared by two logins', 'alice,A,a@example.com\nbob,B,A@example.com\n', [{ line: 2, reason: /a@example.com already belongs to "alice" on line 1/ }]],
    ['an unclosed quote', 'alice,A,a@example.com\n\nbob,"Bob,b@example.com\ncarol,C,c@example.com\n', [{ line: 3, reason: /CSV syntax: Quote Not Closed/ }]],
    [
      'several bad lines',
      'login,name,email\nok,OK,ok@example.com\nbad1,One\nbad2,Two,nope\n',
      [
        { line: 3, reason: /no email/ },
        { line: 4, reason: /not an email/ },
      ],
    ],
  ];
  for (const [name, text, want] of refusals) {
    it(`refuses ${name} with its line number`, () => {
      const r = parseRoster(text);
      assert.equal(r.ok, false);
      if (r.ok) return;
      assert.equal(r.problems.length, want.length, JSON.stringify(r.problems));
      want.forEach((w, i) => {
        assert.equal(r.problems[i]!.line, w.line);
        assert.match(r.problems[i]!.reason, w.reason);
      });
    });
  }

  describe('what an import changes', () => {
    const stored = [
      { login: 'alice', name: 'Alice', emails: ['alice@example.com'] },
      { login: 'bob', name: 'Bob', emails: ['bob@example.com', 'bob@home.example'] },
      { login: 'carol', name: 'Carol', emails: ['carol@example.com'] },
    ];

    it('finds nothing to change when the file holds what is stored (a repeated import)', () => {
      const c = diffRoster(stored, stored);
      assert.deepEqual(c, { added: [], updated: [], unchanged: 3, notInFile: [], conflicts: [] });
    });

    it('reports added students, changed names and addresses, and stored students the file leaves out', () => {
      const c = diffRoster(stored, [
        { login: 'alice', name: 'Alice Liddell', emails: ['alice@example.com'] },
        { login: 'bob', name: 'Bob', emails: ['bob@example.com', 'bob@uni.example'] },
        { login: 'dave', name: 'Dave', emails: ['dave@example.com'] },
      ]);
      assert.deepEqual(c.added, [{ login: 'dave', name: 'Dave', emails: ['dave@example.com'] }]);
      assert.deepEqual(c.updated, [
        { login: 'alice', name: { from: 'Alice', to: 'Alice Liddell' }, emailsAdded: [], emailsRemoved: [] },
        { login: 'bob', emailsAdded: ['bob@uni.example'], emailsRemoved: ['bob@home.example'] },
      ]);
      assert.equal(c.unchanged, 0);
      assert.deepEqual(c.notInFile, [{ login: 'carol', name: 'Carol' }]);
      assert.deepEqual(c.conflicts, []);
    });

    it('flags an address the file gives away while a student left out of the file still holds it', () => {
      const c = diffRoster(stored, [{ login: 'dave', name: 'Dave', emails: ['dave@example.com', 'carol@example.com'] }]);
      assert.deepEqual(c.conflicts, [{ email: 'carol@example.com', login: 'dave', heldBy: 'carol' }]);
    });

    it('lets an address move between two students who are both in the file', () => {
      const c = diffRoster(stored, [
        { login: 'alice', name: 'Alice', emails: ['alice@example.com', 'carol@example.com'] },
        { login: 'carol', name: 'Carol', emails: ['carol@uni.example'] },
      ]);
      assert.deepEqual(c.conflicts, []);
      assert.deepEqual(c.updated.map((u) => u.login), ['alice', 'carol']);
    });
  });
});
