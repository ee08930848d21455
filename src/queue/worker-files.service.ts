// A remote step's files on the server: a worker uploads each step log and artefact (kernel image, modules and tests
// disks, console, results) with its own token, and they land exactly where a local step writes them —
// DATA/logs/runs/R/<step>-<key>.log and DATA/artifacts/run-R/<key>/<file> —, so the web view and GET /runs/R/ show
// them as for local steps. Names are checked against fixed shapes; no folder on the way may be a symlink; the body
// goes to a fresh file beside the target (O_EXCL|O_NOFOLLOW) and is renamed over it only once complete and within
// its bound, so a cut upload or an oversized one leaves the previous file as it was.
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform, type Readable } from 'node:stream';
import type { Db } from '../db/database.js';
import { getRun } from '../db/pipeline.repository.js';
import { AppError, conflict, invalid, notFound } from '../errors.js';
import { artifactFile } from '../pipeline/artifacts.js';
import { pathInTree, UnsafeFileError } from '../pipeline/safe-fs.js';

export const FILE_KINDS = ['log', 'artifact'] as const;
export type FileKind = (typeof FILE_KINDS)[number];

/** The most one upload may hold, per kind: a build log of a whole kernel is a few MB; a modules disk can be large. */
export const UPLOAD_LIMITS: Readonly<Record<FileKind, number>> = { log: 64 * 2 ** 20, artifact: 1024 * 2 ** 20 };

/** A step log: `<step>.log` or `<step>-<key>.log` (as the engine names them, pipeline.service.ts logPath). */
const LOG_NAME = /^[a-z][a-z0-9]{0,19}(-[a-z0-9_]{1,32}(-[1-9][0-9]{0,2})?)?\.log$/;
/** A build key: the arch, or arch-N. */
const BUILD_KEY = /^[a-z0-9_]{1,32}(-[1-9][0-9]{0,2})?$/;
/** An artefact's file name: a plain name with an extension or none, never `.`-first (no `..`, no hidden file). */
const ARTIFACT_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,99}(\.[A-Za-z0-9_-]{1,20}){0,3}$/;

/** The folder of a run's step logs (the engine's logPath writes there too). */
export function runLogsDir(dataDir: string, runId: number): string {
  return path.join(dataDir, 'logs', 'runs', String(runId));
}

export interface StoredFile {
  kind: FileKind;
  /** Path below the data folder (logs/runs/R/… or artifacts/run-R/…). */
  path: string;
  bytes: number;
}

export interface UploadTarget {
  runId: number;
  kind: FileKind;
  /** The artefact's build key (artefacts only). */
  key?: string;
  name: string;
}

const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;

export class WorkerFilesService {
  constructor(
    private readonly db: Db,
    private readonly dataDir: string,
    private readonly limits: Readonly<Record<FileKind, number>> = UPLOAD_LIMITS,
  ) {}

  /** Refuses a target whose names are not of their shape, before a byte is read. */
  check(t: UploadTarget): void {
    if (t.kind === 'log') {
      if (!LOG_NAME.test(t.name)) throw invalid('bad_file_name', `a step log is named <step>.log or <step>-<key>.log, not ${JSON.stringify(t.name.slice(0, 120))}`);
      return;
    }
    if (!t.key || !BUILD_KEY.test(t.key)) throw invalid('bad_file_name', `an artefact's folder is its build key (arch or arch-N), not ${JSON.stringify((t.key ?? '').slice(0, 60))}`);
    if (!ARTIFACT_NAME.test(t.name)) throw invalid('bad_file_name', `${JSON.stringify(t.name.slice(0, 120))} is not an artefact name (letters, digits, _ -, and dotted extensions)`);
  }

  /**
   * An artefact a worker downloads (a test job on another worker than its build takes the kernel and modules images
   * from here): its absolute path, reached below the run's folder through real folders only; 404 when absent.
   */
  artifact(runId: number, key: string, name: string): string {
    this.check({ runId, kind: 'artifact', key, name });
    const file = artifactFile(this.dataDir, runId, path.join(key, name));
    if (!file) throw notFound('no_such_artifact', `no artefact ${key}/${name} in run ${runId}`);
    return file;
  }

  /** The bound of one upload of this kind, for an early refusal by Content-Length. */
  limit(kind: FileKind): number {
    return this.limits[kind];
  }

  /**
   * Streams `body` into the target file. The run must exist and not be over (a job BullMQ runs again after its run
   * ended must not change what was reported); more than the kind's bound is refused (413) and nothing is kept.
   */
  async store(t: UploadTarget, body: Readable): Promise<StoredFile> {
    this.check(t);
    const run = await getRun(this.db, t.runId);
    if (!run) throw notFound('no_such_run', `no run ${t.runId}`);
    if (run.state !== 'queued' && run.state !== 'running') throw conflict('run_finished', `run ${t.runId} is ${run.state}: its files are final`);

    const [root, rel] =
      t.kind === 'log'
        ? [path.join(this.dataDir, 'logs', 'runs'), path.join(String(t.runId), t.name)]
        : [path.join(this.dataDir, 'artifacts'), path.join(`run-${t.runId}`, t.key!, t.name)];
    fs.mkdirSync(root, { recursive: true });
    mkdirsInTree(root, path.dirname(rel));
    const dest = pathInTree(root, rel);
    const st = fs.lstatSync(dest, { throwIfNoEntry: false });
    if (st?.isDirectory()) throw new UnsafeFileError('not-regular', rel, `${rel} is a folder`);

    const max = this.limits[t.kind];
    const tmp = `${dest}.upload-${process.pid}-${Math.random().toString(36).slice(2)}`;
    const fd = fs.openSync(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o644);
    let bytes = 0;
    const bound = new Transform({
      transform(chunk: Buffer, _enc, done) {
        bytes += chunk.length;
        if (bytes > max) return done(new AppError('too_large', 'upload_too_large', `the ${t.kind} is more than the ${max} bytes allowed`));
        done(null, chunk);
      },
    });
    // The request is piped in rather than put in the pipeline: a refusal must not destroy it (that would close the
    // socket before the 413 is sent); it is only unpiped, and Node discards the rest of it.
    let ended = false;
    const onEnd = () => (ended = true);
    const onError = (e: Error) => bound.destroy(e);
    const onClose = () => {
      if (!ended) bound.destroy(new Error('the client went away'));
    };
    body.once('end', onEnd).once('error', onError).once('close', onClose);
    body.pipe(bound);
    // The stream owns the descriptor and is its only closer: a refused or broken upload destroys it (pipeline), which
    // closes it even with autoClose: false; the finally block destroys it otherwise, after the fsync that autoClose:
    // false leaves room for. A second close would hit whatever reused the number meanwhile, a listening socket once.
    const file = fs.createWriteStream('', { fd, autoClose: false });
    try {
      await pipeline(bound, file);
      // On disk before it replaces the previous file: the server may report it right after.
      fs.fsyncSync(fd);
      fs.renameSync(tmp, dest);
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      if (e instanceof AppError) throw e;
      // The client went away or the disk failed: nothing was kept.
      throw new AppError('invalid', 'upload_incomplete', `the upload of ${t.name} did not complete: ${(e as Error).message}`);
    } finally {
      file.destroy();
      body.unpipe(bound);
      body.off('end', onEnd).off('error', onError).off('close', onClose);
    }
    return { kind: t.kind, path: path.relative(this.dataDir, dest), bytes };
  }
}

/** Creates the folders of `rel` below `root` one by one, refusing any that exists as a symlink or a file. */
function mkdirsInTree(root: string, rel: string): void {
  let at = fs.realpathSync.native(root);
  for (const part of rel.split(path.sep).filter(Boolean)) {
    if (part === '..' || part === '.') throw new UnsafeFileError('bad-path', rel, `${rel} leaves its folder`);
    at = path.join(at, part);
    let st = fs.lstatSync(at, { throwIfNoEntry: false });
    if (!st) {
      try {
        fs.mkdirSync(at);
        continue;
      } catch (e) {
        // Made by a concurrent upload of the same run meanwhile: look at what is there now.
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        st = fs.lstatSync(at);
      }
    }
    if (st.isSymbolicLink()) throw new UnsafeFileError('symlink', rel, `${path.relative(root, at)} is a symlink`);
    if (!st.isDirectory()) throw new UnsafeFileError('not-regular', rel, `${path.relative(root, at)} is not a folder`);
  }
}
