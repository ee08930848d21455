// What the series engine reads from one list mail (its thread headers, classification, author, bounds defects):
// pure, so that it runs in the mail-reading worker with a time budget and the main thread only files it.
import { MAX_FILES, subjectTags, type SeriesMarks } from './assignment.js';
import { classify, type Classified, type MailInput } from './classify.js';
import { diffFiles } from './diff.js';
import { dependsOnRefs, type DependencyRef } from './depends-on.js';
import { NUMBER_OUT_OF_RANGE } from './limits.js';
import { authorOf, headerOf, toMailInput } from './mail-input.js';
import type { Identity } from './trailers.js';

export interface Filing {
  /** The mail's thread headers, sender, date and subject (its text stays in the worker: the classification has it). */
  input: Omit<MailInput, 'text' | 'patchAttachments'>;
  classified: Classified;
  /** The patch's author: git send-email's in-body From line, else the sender. */
  author: Identity;
  /** X-Patchwork-State as sent, for stateFromHeader. */
  stateHeader: string | undefined;
  /** What the bounds of limits.ts ignored, recorded with the mail's parse defects. */
  defects: string[];
  /** `Depends-on:` lines of a cover letter or patch (Patchwork 3.2), resolved by the ingest service. */
  dependsOn: DependencyRef[];
  /** What matches a patch or cover to an assignment (assignment.ts): subject words, the project's tag kept; files touched. */
  marks: SeriesMarks;
}

export function readFiling(mail: Parameters<typeof toMailInput>[0], projectSlug: string): Filing {
  const full = toMailInput(mail);
  const classified = classify(full, projectSlug);
  const { text: _text, patchAttachments: _attachments, ...input } = full;
  return {
    input,
    classified,
    author: authorOf(full),
    stateHeader: headerOf(mail.header, 'x-patchwork-state'),
    defects: classified.subject.outOfRange ? [NUMBER_OUT_OF_RANGE] : [],
    dependsOn: classified.kind === 'comment' || classified.kind === 'plain' ? [] : dependsOnRefs(classified.content),
    marks: {
      tags: classified.kind === 'comment' || classified.kind === 'plain' ? [] : subjectTags(input.subject),
      files: classified.kind === 'patch' ? diffFiles(classified.diff).slice(0, MAX_FILES) : [],
    },
  };
}
