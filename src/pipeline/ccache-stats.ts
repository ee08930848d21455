// What ccache did for one build, from its stats log (CCACHE_STATSLOG, ccache 4.x): per call a `# <source file>` line,
// then one line per counter it bumped. The build step gives the trusted base build a log of its own and reads it
// here: hits from the local cache, hits from the remote (Redis), compilations, remote errors.
//
// A sample (abridged), ccache 4.7.5: one hit from the remote, then one miss written to both:
//   # a.c
//   direct_cache_hit
//   local_storage_miss
//   local_storage_read_miss
//   local_storage_write
//   remote_storage_hit
//   remote_storage_read_hit
//   # b.c
//   cache_miss
//   direct_cache_miss
//   local_storage_miss
//   remote_storage_miss
//   remote_storage_write

export interface CcacheCounts {
  /** ccache calls logged (one `#` line each). */
  calls: number;
  /** Results found in the cache (direct or preprocessed mode), wherever from. */
  hits: number;
  /** …of which from the local cache folder. */
  localHits: number;
  /** …of which from the remote storage. */
  remoteHits: number;
  /** Compiled: in neither. */
  misses: number;
  /** Remote storage errors and timeouts (ccache compiled or used the local cache instead). */
  remoteErrors: number;
  /** Entries written to the remote storage (a result and its manifest are two). */
  remoteWrites: number;
}

export function parseStatsLog(text: string): CcacheCounts {
  const n: Record<string, number> = {};
  let calls = 0;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    if (line.startsWith('#')) calls++;
    else if (/^[a-z_]+$/.test(line)) n[line] = (n[line] ?? 0) + 1;
  }
  const c = (k: string) => n[k] ?? 0;
  return {
    calls,
    hits: c('direct_cache_hit') + c('preprocessed_cache_hit'),
    localHits: c('local_storage_hit'),
    remoteHits: c('remote_storage_hit'),
    misses: c('cache_miss'),
    remoteErrors: c('remote_storage_error') + c('remote_storage_timeout'),
    remoteWrites: c('remote_storage_write'),
  };
}

/** One line for the build log. */
export function statsLine(c: CcacheCounts, remote: boolean): string {
  const where = remote ? `${c.localHits} from the local cache, ${c.remoteHits} from the remote` : `${c.localHits} from the local cache`;
  const errors = remote && c.remoteErrors ? `; ${c.remoteErrors} remote storage errors (compiled or read locally instead)` : '';
  return `ccache: ${c.hits + c.misses} compilations, ${c.hits} hits (${where}), ${c.misses} compiled${errors}`;
}
