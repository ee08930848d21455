// The options every operator command shares: where the data and the project files are (as for `serve`).
import { Option, type Command } from 'commander';

export function coreOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--data <dir>', 'data directory (SQLite, outbox, logs)').env('PATCHBAY_DATA'))
    .addOption(new Option('--projects <dir>', 'directory of project files').env('PATCHBAY_PROJECTS'));
}
