import { usageError } from './args.js'
import { COMMON_FLAGS, type Command } from './command.js'
import { runsCancelCommand, runsPauseCommand, runsPruneCommand } from './runs-control.js'
import { runsListCommand, runsShowCommand } from './runs-list.js'
import { runsReplayCommand } from './runs-replay.js'
import { runsResumeAllCommand, runsResumeCommand } from './runs-resume.js'
import { runsTraceCommand } from './runs-trace.js'

const SUBCOMMANDS: readonly Command[] = [
  runsListCommand,
  runsShowCommand,
  runsTraceCommand,
  runsPauseCommand,
  runsResumeCommand,
  runsCancelCommand,
  runsResumeAllCommand,
  runsReplayCommand,
  runsPruneCommand,
]

function help(): string {
  const names = SUBCOMMANDS.map((c) => c.name.replace(/^runs /, ''))
  const width = Math.max(...names.map((n) => n.length))
  return `Usage: flotilla runs <subcommand> [options]

Manages the runs of a store. Every "flotilla run" is stored as it goes (by
default in .flotilla/flotilla.db of the current folder), so a run can be
listed and inspected, paused, resumed after a crash, cancelled, replayed
with changes, and deleted when old.

Subcommands:
${SUBCOMMANDS.map((c, i) => `  ${names[i].padEnd(width)}   ${c.summary}`).join('\n')}

Every subcommand takes --store SPEC (default: $FLOTILLA_STORE, else
.flotilla/flotilla.db), --json (machine-readable result on stdout only),
--verbose and --help: "flotilla runs <subcommand> --help".

Examples:
  flotilla runs list --state RUNNING
  flotilla runs show run_…
  flotilla runs trace run_…
  flotilla runs resume run_…
  flotilla runs replay run_… --from fix --set fix.input.apply=true
  flotilla runs prune --older-than 30d`
}

/** `flotilla runs <subcommand>`: the run-management commands. */
export const runsCommand: Command = {
  name: 'runs',
  summary: 'Manage stored runs: list, show, trace, pause, resume, cancel, replay, prune',
  help: help(),
  flags: COMMON_FLAGS,
  subcommands: SUBCOMMANDS,
  execute() {
    // main dispatches to the subcommands; this runs only without one.
    return Promise.reject(
      usageError(
        'runs',
        `"flotilla runs" needs a subcommand: ${SUBCOMMANDS.map((c) => c.name.replace(/^runs /, '')).join(', ')}.`,
      ),
    )
  },
}
