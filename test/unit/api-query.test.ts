// Pure parts of the REST API: Patchwork's query parameters, combined check state, prefixes, headers, versioned fields.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isAppError } from '../../src/errors.js';
import { linkHeader, MAX_LINK_HEADER, MAX_ORDER_TERMS, MAX_SEARCH_TERMS, NoMatch, orderParam, pageParam, parseBool, parseIsoDate, resolvePage, searchTerms, statesParam, values } from '../../src/api/query.js';
import { apiDate, combinedCheckState, headersDict, prefixesOf } from '../../src/api/represent.js';
import { fieldsOf } from '../../src/api/versions.js';

describe('API query parameters', () => {
  it('reads repeated keys, drops empty values (project= is no filter) and duplicates', () => {
    assert.deepEqual(values({ state: ['new', '', 'new', 'rfc'] }, 'state'), ['new', 'rfc']);
    assert.equal(values({ project: '' }, 'project'), undefined);
    assert.equal(values({}, 'project'), undefined);
  });

  it('reads booleans as Django does, including git-pw’s Python True/False', () => {
    for (const [input, out] of [['True', true], ['true', true], ['1', true], ['False', false], ['false', false], ['0', false], ['maybe', undefined]] as const) {
      assert.equal(parseBool(input), out, input);
    }
  });

  it('reads ISO 8601 dates; a date without a zone is UTC', () => {
    for (const [input, out] of [
      ['2026-11-20T10:00:00', '2026-11-20T10:00:00.000Z'],
      ['2026-11-20T10:00:00Z', '2026-11-20T10:00:00.000Z'],
      ['2026-11-20T12:00:00+02:00', '2026-11-20T10:00:00.000Z'],
      ['2026-11-20', '2026-11-20T00:00:00.000Z'],
      ['2026-11-20 10:00', '2026-11-20T10:00:00.000Z'],
      ['yesterday', undefined],
      ['2026-13-45T99:00:00', undefined],
    ] as const) {
      assert.equal(parseIsoDate(input), out, input);
    }
  });

  it('takes a state as slug, name with dashes for spaces, or id; anything else matches nothing', () => {
    assert.deepEqual(statesParam({ state: ['under-review', 'Changes Requested', '3'] }), ['under-review', 'changes-requested', 'accepted']);
    assert.throws(() => statesParam({ state: 'done' }), NoMatch);
  });

  it('splits q on whitespace and commas, and keeps only allowed order fields', () => {
    assert.deepEqual(searchTerms({ q: 'proctree  children,count' }), ['proctree', 'children', 'count']);
    const dflt = [{ field: 'id', desc: false }];
    assert.deepEqual(orderParam({ order: '-date,name' }, ['date', 'name'], dflt), [{ field: 'date', desc: true }, { field: 'name', desc: false }]);
    assert.deepEqual(orderParam({ order: 'hash' }, ['date'], dflt), dflt);
  });

  it('refuses more than 16 order terms or 32 search terms with a 400 naming the field, and counts a repeated field once', () => {
    const dflt = [{ field: 'id', desc: false }];
    const many = Array.from({ length: 5000 }, (_, i) => (i % 2 ? '-date' : 'name')).join(',');
    for (const order of [many, Array(MAX_ORDER_TERMS + 1).fill('date').join(',')]) {
      assert.throws(
        () => orderParam({ order }, ['date', 'name'], dflt),
        (e: unknown) => isAppError(e) && e.kind === 'invalid' && e.code === 'order_too_long' && Array.isArray((e.details?.fields as Record<string, unknown>).order),
      );
    }
    // At the bound: accepted, and the same field twice is one key (the first).
    const bound = ['-date', ...Array(MAX_ORDER_TERMS - 2).fill('date'), 'name'].join(',');
    assert.deepEqual(orderParam({ order: bound }, ['date', 'name'], dflt), [{ field: 'date', desc: true }, { field: 'name', desc: false }]);
    const words = (n: number) => Array.from({ length: n }, (_, i) => `w${i}`).join(' ');
    assert.equal(searchTerms({ q: words(MAX_SEARCH_TERMS) }).length, MAX_SEARCH_TERMS);
    assert.equal(searchTerms({ q: `${words(MAX_SEARCH_TERMS)} w0 w1` }).length, MAX_SEARCH_TERMS, 'repeated terms count once');
    assert.throws(() => searchTerms({ q: words(5000) }), (e: unknown) => isAppError(e) && e.kind === 'invalid' && e.code === 'search_too_long');
  });

  it('pages: 30 by default, at most 250, a bad page is 404 Invalid page., page=last is the last', () => {
    assert.deepEqual(pageParam({}), { page: 1, perPage: 30 });
    assert.deepEqual(pageParam({ per_page: '1000', page: '2' }), { page: 2, perPage: 250 });
    assert.deepEqual(pageParam({ per_page: '-3' }), { page: 1, perPage: 30 });
    for (const page of ['0', 'x', '-1']) assert.throws(() => pageParam({ page }), (e: unknown) => isAppError(e) && e.kind === 'not_found' && e.message === 'Invalid page.');
    assert.deepEqual(resolvePage({ page: -1, perPage: 10 }, 25), { page: 3, lastPage: 3, offset: 20, limit: 10 });
    assert.deepEqual(resolvePage({ page: 1, perPage: 10 }, 0), { page: 1, lastPage: 1, offset: 0, limit: 10 });
    assert.throws(() => resolvePage({ page: 2, perPage: 10 }, 0));
  });

  it('writes the Link header with next and prev only when they exist, first and last always', () => {
    assert.equal(
      linkHeader('http://h/api/patches/?state=new&page=2', 2, 3),
      '<http://h/api/patches/?state=new&page=3>; rel="next", <http://h/api/patches/?state=new&page=1>; rel="prev", <http://h/api/patches/?state=new&page=1>; rel="first", <http://h/api/patches/?state=new&page=3>; rel="last"',
    );
    assert.equal(linkHeader('http://h/api/series/', 1, 1), '<http://h/api/series/?page=1>; rel="first", <http://h/api/series/?page=1>; rel="last"');
  });

  it('keeps the Link header under 2 KB: unknown parameters go, then first and last, then the whole header', () => {
    const junk = 'x'.repeat(12_000);
    // Unknown parameters dropped, known ones kept once each.
    const cut = linkHeader(`http://h/api/patches/?state=new&state=new&junk=${junk}&page=2`, 2, 3, ['state', 'page'])!;
    assert.ok(cut.length <= MAX_LINK_HEADER);
    assert.equal(cut, linkHeader('http://h/api/patches/?state=new&page=2', 2, 3));
    // A known parameter too long for four links: next and prev only.
    const long = 'y'.repeat(600);
    const two = linkHeader(`http://h/api/patches/?q=${long}&page=2`, 2, 3, ['q', 'page'])!;
    assert.ok(two.length <= MAX_LINK_HEADER);
    assert.deepEqual([...two.matchAll(/rel="(\w+)"/g)].map((m) => m[1]), ['next', 'prev']);
    assert.match(two, new RegExp(`^<http://h/api/patches/\\?q=${long}&page=3>; rel="next", <http://h/api/patches/\\?q=${long}&page=1>; rel="prev"$`));
    // Nothing fits: no header at all rather than a broken one.
    assert.equal(linkHeader(`http://h/api/patches/?q=${junk}`, 2, 3, ['q']), undefined);
    // Whatever the URL holds, every target is a valid <URI-Reference> (RFC 8288 §3): no raw <, >, quotes or spaces.
    const odd = linkHeader('http://h/api/patches/?q=a>b<c "d"', 1, 2)!;
    for (const m of odd.matchAll(/<([^>]*)>/g)) assert.doesNotMatch(m[1]!, /[<>" ]/);
  });
});

describe('API representations', () => {
  it('combines checks as Patchwork: newest per (user, context); fail, then warning, then pending win; none is pending', () => {
    const c = (user_id: number, context: string, state: string) => ({ user_id, context, state });
    assert.equal(combinedCheckState([]), 'pending');
    assert.equal(combinedCheckState([c(1, 'a', 'success'), c(1, 'b', 'success')]), 'success');
    assert.equal(combinedCheckState([c(1, 'a', 'fail'), c(1, 'a', 'success')]), 'success');
    assert.equal(combinedCheckState([c(1, 'a', 'fail'), c(2, 'a', 'success')]), 'fail');
    assert.equal(combinedCheckState([c(1, 'a', 'warning'), c(1, 'b', 'pending')]), 'warning');
    assert.equal(combinedCheckState([c(1, 'a', 'success'), c(1, 'b', 'pending')]), 'pending');
  });

  it('takes the prefixes of a stored name as Patchwork’s clean_subject does', () => {
    assert.deepEqual(prefixesOf('[RFC,net-next] proctree: walk'), ['RFC', 'net-next']);
    assert.deepEqual(prefixesOf('[RFC] [v2] title [not a prefix]'), ['RFC', 'v2']);
    assert.deepEqual(prefixesOf('rewrite [a-z] regexes'), []);
  });

  it('turns a header block into a dict: unfolded values, a list for a repeated field, the first spelling of a name', () => {
    const h = headersDict('From zoe@x Fri Nov 20 10:00:00 2026\nSubject: a\n long one\nReceived: one\nreceived: two\nMessage-ID: <m@x>\n');
    assert.deepEqual(h, { Subject: 'a long one', Received: ['one', 'two'], 'Message-ID': '<m@x>' });
  });

  it('writes dates as DRF writes Patchwork’s naive UTC datetimes', () => {
    assert.equal(apiDate('2026-11-20T10:00:00.000Z'), '2026-11-20T10:00:00');
  });

  it('shows each field from the version that added it', () => {
    assert.deepEqual(fieldsOf('embeddedCover', '1.0'), ['id', 'url', 'msgid', 'date', 'name']);
    assert.deepEqual(fieldsOf('embeddedCover', '1.3'), ['id', 'url', 'web_url', 'msgid', 'list_archive_url', 'date', 'name', 'mbox']);
    assert.ok(!fieldsOf('patch', '1.1').includes('related') && fieldsOf('patch', '1.2').includes('related'));
  });
});
