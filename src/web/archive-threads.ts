// Threads of archived posts (pure): posts joined by their In-Reply-To/References into threads, each reply under its
// parent, threads newest activity first — the archive's index, as public-inbox shows its lists.

export interface ThreadPost {
  mailId: number;
  msgid: string;
  date: string;
}

export interface ThreadEntry<P> {
  post: P;
  /** 0 for a post that starts the thread (or whose parent never reached the list), 1 for a reply to it, … */
  depth: number;
}

export interface Thread<P> {
  /** In reading order: each post, then its replies (oldest first), depth-first. */
  entries: ThreadEntry<P>[];
  /** The newest post's date: threads are ordered by it, newest first. */
  latest: string;
}

const byDate = (a: ThreadPost, b: ThreadPost) => (a.date < b.date ? -1 : a.date > b.date ? 1 : a.mailId - b.mailId);

/**
 * Groups posts into threads. Two posts share a thread when one refers to the other or both refer to a common
 * Message-ID, stored or not (a parent that never reached the list still joins its replies, as public-inbox's ghosts).
 * A post's parent is the post it refers to that itself refers to the most: References lists the ancestors root
 * first (RFC 5322 §3.6.4), so the direct parent carries the longest chain. A post seen twice (the same Message-ID on
 * two lists) is shown once. Reference loops (hostile or broken mail) cannot hide a post: what no root reaches starts
 * a branch of its own.
 */
export function groupThreads<P extends ThreadPost>(posts: readonly P[], refs: ReadonlyMap<number, readonly string[]>): Thread<P>[] {
  const byMsgid = new Map<string, P>();
  for (const p of [...posts].sort((a, b) => a.mailId - b.mailId)) if (!byMsgid.has(p.msgid)) byMsgid.set(p.msgid, p);
  const unique = [...byMsgid.values()];
  const refsOf = (p: P) => refs.get(p.mailId) ?? [];

  // Union-find over Message-IDs.
  const up = new Map<string, string>();
  const find = (x: string): string => {
    let root = x;
    while (up.has(root) && up.get(root) !== root) root = up.get(root)!;
    for (let y = x; y !== root; ) {
      const next = up.get(y)!;
      up.set(y, root);
      y = next;
    }
    return root;
  };
  for (const p of unique) {
    if (!up.has(p.msgid)) up.set(p.msgid, p.msgid);
    for (const r of refsOf(p)) {
      if (!up.has(r)) up.set(r, r);
      const a = find(p.msgid);
      const b = find(r);
      if (a !== b) up.set(a, b);
    }
  }

  const parentOf = new Map<P, P>();
  for (const p of unique) {
    let best: P | undefined;
    for (const r of refsOf(p)) {
      const q = byMsgid.get(r);
      if (!q || q === p) continue;
      if (!best || refsOf(q).length > refsOf(best).length || (refsOf(q).length === refsOf(best).length && byDate(q, best) > 0)) best = q;
    }
    if (best) parentOf.set(p, best);
  }
  const children = new Map<P, P[]>();
  for (const [child, parent] of parentOf) {
    const list = children.get(parent);
    if (list) list.push(child);
    else children.set(parent, [child]);
  }

  const groups = new Map<string, P[]>();
  for (const p of unique) {
    const g = find(p.msgid);
    const list = groups.get(g);
    if (list) list.push(p);
    else groups.set(g, [p]);
  }

  const threads: Thread<P>[] = [];
  for (const members of groups.values()) {
    members.sort(byDate);
    const entries: ThreadEntry<P>[] = [];
    const seen = new Set<P>();
    // Roots first (no parent), then whatever a reference loop kept out of reach.
    const starts = [...members.filter((p) => !parentOf.has(p)), ...members];
    for (const start of starts) {
      if (seen.has(start)) continue;
      // Depth-first without recursion: a chain of thousands of replies must not overflow the stack.
      const stack: ThreadEntry<P>[] = [{ post: start, depth: 0 }];
      while (stack.length) {
        const e = stack.pop()!;
        if (seen.has(e.post)) continue;
        seen.add(e.post);
        entries.push(e);
        const kids = (children.get(e.post) ?? []).filter((k) => !seen.has(k)).sort(byDate);
        for (let i = kids.length - 1; i >= 0; i--) stack.push({ post: kids[i]!, depth: e.depth + 1 });
      }
    }
    threads.push({ entries, latest: members[members.length - 1]!.date });
  }
  return threads.sort((a, b) => (a.latest < b.latest ? 1 : a.latest > b.latest ? -1 : 0));
}
