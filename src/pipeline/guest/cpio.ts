// A cpio archive in the "newc" format the kernel unpacks as its initramfs (Documentation/driver-api/early-userspace/
// buffer-format.rst), written without root: device nodes are header fields here, not files made with mknod.
// Pure: entries in, bytes out. Times are 0 so the same entries give the same archive (it is cached by content).

export type CpioEntry =
  | { type: 'dir'; path: string; mode?: number }
  | { type: 'file'; path: string; data: Buffer; mode?: number }
  | { type: 'symlink'; path: string; target: string }
  | { type: 'char' | 'block'; path: string; major: number; minor: number; mode?: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const MAGIC = '070701';
const TRAILER = 'TRAILER!!!';

/** The archive: each entry as given (parents first is the caller's job), then the trailer; owner root. */
export function writeCpio(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let offset = 0;
  const push = (b: Buffer) => {
    parts.push(b);
    offset += b.length;
  };
  const pad = () => {
    const n = (4 - (offset % 4)) % 4;
    if (n) push(Buffer.alloc(n));
  };
  let ino = 1;
  const record = (name: string, mode: number, nlink: number, data: Buffer, rdev: [number, number] = [0, 0]) => {
    const nameBytes = Buffer.from(`${name}\0`, 'utf8');
    const fields = [ino++, mode, 0, 0, nlink, 0, data.length, 0, 0, rdev[0], rdev[1], nameBytes.length, 0];
    push(Buffer.from(MAGIC + fields.map((f) => f.toString(16).padStart(8, '0')).join(''), 'ascii'));
    push(nameBytes);
    pad();
    if (data.length) {
      push(data);
      pad();
    }
  };
  for (const e of entries) {
    const name = cpioName(e.path);
    switch (e.type) {
      case 'dir':
        record(name, S_IFDIR | (e.mode ?? 0o755), 2, Buffer.alloc(0));
        break;
      case 'file':
        record(name, S_IFREG | (e.mode ?? 0o644), 1, e.data);
        break;
      case 'symlink':
        record(name, S_IFLNK | 0o777, 1, Buffer.from(e.target, 'utf8'));
        break;
      case 'char':
      case 'block':
        record(name, (e.type === 'char' ? S_IFCHR : S_IFBLK) | (e.mode ?? 0o600), 1, Buffer.alloc(0), [e.major, e.minor]);
        break;
    }
  }
  ino = 0;
  record(TRAILER, 0, 1, Buffer.alloc(0));
  return Buffer.concat(parts);
}

/** Archive names are relative to the root, as gen_init_cpio writes them: no leading slash, no `.` or `..`. */
function cpioName(p: string): string {
  const parts = p.split('/').filter((s) => s !== '' && s !== '.');
  if (parts.length === 0 || parts.includes('..')) throw new Error(`bad path in the initramfs: ${JSON.stringify(p)}`);
  return parts.join('/');
}

export interface CpioMember {
  name: string;
  mode: number;
  rdevMajor: number;
  rdevMinor: number;
  data: Buffer;
}

/** Reads a newc archive back (for tests and for checking what we wrote); stops at the trailer. */
export function readCpio(buf: Buffer): CpioMember[] {
  const out: CpioMember[] = [];
  let at = 0;
  const align = (n: number) => (n + 3) & ~3;
  while (at + 110 <= buf.length) {
    const head = buf.toString('ascii', at, at + 110);
    if (!head.startsWith(MAGIC)) throw new Error(`not a newc cpio header at byte ${at}`);
    const field = (i: number) => parseInt(head.slice(6 + i * 8, 14 + i * 8), 16);
    const nameSize = field(11);
    const fileSize = field(6);
    const name = buf.toString('utf8', at + 110, at + 110 + nameSize - 1);
    at = align(at + 110 + nameSize);
    if (name === TRAILER) break;
    out.push({ name, mode: field(1), rdevMajor: field(9), rdevMinor: field(10), data: buf.subarray(at, at + fileSize) });
    at = align(at + fileSize);
  }
  return out;
}
