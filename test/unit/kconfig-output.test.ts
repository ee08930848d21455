// merge_config.sh output rules against their verbatim samples, its parser on a real output, and our own check of
// fragment lines against a final .config.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkFragments, MERGE_CONFIG_RULES, parseMergeConfigOutput } from '../../src/pipeline/rules/kconfig-output.js';
import { configHash, isConfigTarget } from '../../src/pipeline/kconfig.js';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from '../helpers/dirs.js';

describe('merge_config.sh rules', () => {
  for (const rule of Object.values(MERGE_CONFIG_RULES)) {
    it(`${rule.id} matches each of its samples`, () => {
      assert.ok(rule.samples.length > 0);
      for (const s of rule.samples) assert.match(s, rule.pattern);
    });
  }

  it('reads the missing values of a real merge_config.sh run (6.1, tinyconfig + two fragments)', () => {
    // Output of merge_config.sh -O o o/.config f1.config f2.config, make's lines cut.
    const out = [
      'Using /tmp/kc-sample/o/.config as base',
      'Merging /tmp/kc-sample/f1.config',
      'Value of CONFIG_PRINTK is redefined by fragment /tmp/kc-sample/f1.config:',
      'Previous value: # CONFIG_PRINTK is not set',
      'New value: CONFIG_PRINTK=y',
      'Merging /tmp/kc-sample/f2.config',
      'Value requested for CONFIG_NO_SUCH_THING not in final .config',
      'Requested value:  CONFIG_NO_SUCH_THING=y',
      'Actual value:     ',
      '',
      'Value requested for CONFIG_PRINTK not in final .config',
      'Requested value:  CONFIG_PRINTK=n',
      'Actual value:     # CONFIG_PRINTK is not set',
      '',
    ].join('\n');
    const r = parseMergeConfigOutput(out);
    assert.deepEqual(r.missing, [
      { symbol: 'CONFIG_NO_SUCH_THING', requested: 'CONFIG_NO_SUCH_THING=y', actual: '' },
      { symbol: 'CONFIG_PRINTK', requested: 'CONFIG_PRINTK=n', actual: '# CONFIG_PRINTK is not set' },
    ]);
    assert.deepEqual(r.redefined, ['CONFIG_PRINTK']);
  });
});

describe('checkFragments', () => {
  const final = ['CONFIG_PRINTK=y', '# CONFIG_BLOCK is not set', 'CONFIG_LOG_BUF_SHIFT=17', ''].join('\n');

  it('reports unknown symbols, unmet dependencies and changed values, not lines that survived', () => {
    const missing = checkFragments(
      [
        { name: 'a.config', text: 'CONFIG_PRINTK=y\nCONFIG_EXT2_FS=y\nCONFIG_LOG_BUF_SHIFT=14\n' },
        { name: 'b.config', text: '# comment\nCONFIG_NO_SUCH_THING=y\n# CONFIG_BLOCK is not set\n' },
      ],
      final,
    );
    assert.deepEqual(
      missing.map((m) => [m.symbol, m.requested, m.actual, m.fragment]),
      [
        ['CONFIG_EXT2_FS', 'CONFIG_EXT2_FS=y', '', 'a.config'],
        ['CONFIG_LOG_BUF_SHIFT', 'CONFIG_LOG_BUF_SHIFT=14', 'CONFIG_LOG_BUF_SHIFT=17', 'a.config'],
        ['CONFIG_NO_SUCH_THING', 'CONFIG_NO_SUCH_THING=y', '', 'b.config'],
      ],
    );
  });

  it('lets a later fragment win, and takes "is not set" as met by an absent symbol', () => {
    const missing = checkFragments(
      [
        { name: 'a.config', text: 'CONFIG_PRINTK=n\n' },
        { name: 'b.config', text: 'CONFIG_PRINTK=y\n# CONFIG_MODULES is not set\n' },
      ],
      final,
    );
    assert.deepEqual(missing, []);
  });
});

describe('configHash', () => {
  it('changes with the arch, the base and a fragment content, not with the fragment path', () => {
    const dir = tempDir();
    const f1 = path.join(dir, 'one.config');
    const f2 = path.join(dir, 'two.config');
    fs.writeFileSync(f1, 'CONFIG_EXT2_FS=y\n');
    fs.writeFileSync(f2, 'CONFIG_EXT2_FS=y\n');
    const h = configHash({ arch: 'x86_64', base: 'tinyconfig', fragments: [f1] });
    assert.match(h, /^[0-9a-f]{64}$/);
    assert.equal(configHash({ arch: 'x86_64', base: 'tinyconfig', fragments: [f2] }), h);
    assert.notEqual(configHash({ arch: 'arm64', base: 'tinyconfig', fragments: [f1] }), h);
    assert.notEqual(configHash({ arch: 'x86_64', base: 'defconfig', fragments: [f1] }), h);
    fs.writeFileSync(f2, 'CONFIG_EXT2_FS=n\n');
    assert.notEqual(configHash({ arch: 'x86_64', base: 'tinyconfig', fragments: [f2] }), h);
  });

  it('tells make targets from config files', () => {
    assert.equal(isConfigTarget('tinyconfig'), true);
    assert.equal(isConfigTarget('x86_64_defconfig'), true);
    assert.equal(isConfigTarget('/srv/configs/base.config'), false);
  });
});
