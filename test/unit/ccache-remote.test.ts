// The pure parts of the ccache's door to Redis and of the base build's ccache figures: the RESP the door logs in
// with, the one-line replies it swallows, and ccache's stats log (a sample written by ccache 4.7.5).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { respCommand, takeReplies } from '../../src/pipeline/ccache-remote.service.js';
import { parseStatsLog, statsLine } from '../../src/pipeline/ccache-stats.js';

describe('the door\'s Redis protocol', () => {
  it('writes a command as an array of bulk strings, lengths in bytes', () => {
    assert.equal(respCommand('AUTH', 'ccache', 'pässword').toString(), '*3\r\n$4\r\nAUTH\r\n$6\r\nccache\r\n$9\r\npässword\r\n');
  });

  it('takes the login replies off the front and leaves what follows', () => {
    assert.equal(takeReplies(Buffer.from('+OK\r'), 1), null);
    assert.equal(takeReplies(Buffer.from('+OK\r\n'), 2), null);
    const got = takeReplies(Buffer.from('+OK\r\n-NOPERM no\r\n:1\r\n$-1\r\n'), 3)!;
    assert.deepEqual(got.lines, ['+OK', '-NOPERM no', ':1']);
    assert.equal(got.rest.toString(), '$-1\r\n');
  });

  it('refuses a reply that is not one line, or one that never ends', () => {
    assert.throws(() => takeReplies(Buffer.from('$2\r\nOK\r\n'), 1), /where one line was expected/);
    assert.throws(() => takeReplies(Buffer.from(`+${'x'.repeat(5000)}`), 1), /overlong/);
  });
});

// `CCACHE_STATSLOG=… ccache gcc -c X.c` (ccache 4.7.5, Debian 12): a.c found in the remote, b.c in neither (compiled,
// written to both), c.c in the local cache, d.c compiled while the remote's socket was missing.
const SAMPLE = `# a.c
direct_cache_hit
local_storage_miss
local_storage_read_miss
local_storage_read_miss
local_storage_write
local_storage_write
remote_storage_hit
remote_storage_read_hit
remote_storage_read_hit
# b.c
cache_miss
direct_cache_miss
local_storage_miss
local_storage_read_miss
local_storage_read_miss
local_storage_write
local_storage_write
preprocessed_cache_miss
remote_storage_miss
remote_storage_read_miss
remote_storage_read_miss
remote_storage_write
remote_storage_write
# c.c
direct_cache_hit
local_storage_hit
local_storage_read_hit
local_storage_read_hit
# d.c
cache_miss
direct_cache_miss
local_storage_miss
local_storage_read_miss
local_storage_read_miss
local_storage_write
local_storage_write
preprocessed_cache_miss
remote_storage_error
`;

describe('ccache stats log', () => {
  it('counts hits by where they came from, compilations and remote errors', () => {
    assert.deepEqual(parseStatsLog(SAMPLE), { calls: 4, hits: 2, localHits: 1, remoteHits: 1, misses: 2, remoteErrors: 1, remoteWrites: 2 });
    assert.deepEqual(parseStatsLog(''), { calls: 0, hits: 0, localHits: 0, remoteHits: 0, misses: 0, remoteErrors: 0, remoteWrites: 0 });
  });

  it('says it in one line, the remote only when there is one', () => {
    const c = parseStatsLog(SAMPLE);
    assert.equal(statsLine(c, true), 'ccache: 4 compilations, 2 hits (1 from the local cache, 1 from the remote), 2 compiled; 1 remote storage errors (compiled or read locally instead)');
    assert.equal(statsLine(c, false), 'ccache: 4 compilations, 2 hits (1 from the local cache), 2 compiled');
  });
});
