import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { Command } from '../../src/cli/command.js'
import { COMMANDS, globalHelp } from '../../src/cli/main.js'
import { ROOT } from './run-cli.js'

/**
 * docs/cli.md is generated from the --help texts by this file. After changing
 * a help text (or the prose below), regenerate it with
 *   UPDATE_CLI_DOC=1 npx vitest run test/cli/cli-doc.test.ts
 */
const DOC = join(ROOT, 'docs/cli.md')

const INTRO = `# CLI reference

The \`flotilla\` command (\`npx flotilla …\` in a project, \`node dist/cli/main.js …\` in this repository after \`npm run build\`). Every command and subcommand takes \`--help\`. Errors print as \`error [CODE]: message\` (see [errors.md](errors.md)); \`--verbose\` adds the stack; with \`--json\` the error is also printed on stdout as \`{ "ok": false, "error": { "code", "message", … } }\`. Exit codes: 0 success, 1 failure (a failed or cancelled run, an invalid workflow, an unknown run), 2 usage error.

This page is generated from the \`--help\` texts by \`test/cli/cli-doc.test.ts\`: regenerate it with \`UPDATE_CLI_DOC=1 npx vitest run test/cli/cli-doc.test.ts\` (the test fails while it is out of date).
`

const DURABLE = `## Durable runs

Every \`flotilla run\` (and \`flotilla demo\`) stores its run as it executes, write-ahead: by default in \`.flotilla/flotilla.db\` of the current folder, created on first use. \`--store SPEC\` (on every command that runs or manages runs, also before the command: \`flotilla --store runs.db runs list\`) or the \`FLOTILLA_STORE\` environment variable name another store: a file (\`runs.db\`, \`sqlite:PATH\`), \`postgres://user@host:5432/db?schema=name\` (runs shared by many processes; needs \`npm install pg\`), or \`memory\` (nothing is kept). The run id is printed when the run starts and under its summary; see [durability.md](durability.md) for what is stored and when.

<!-- snippet: skip — flow.yaml and run_… are placeholders for your workflow and run ids -->
\`\`\`sh
flotilla run flow.yaml                       # stored in .flotilla/flotilla.db
flotilla runs list                           # newest first: id, workflow, state, created, duration, tasks done
flotilla runs show run_…                     # fields, each task, recent events (--json for all of it)
flotilla runs trace run_…                    # model calls of language-model agents: text, tool calls, tokens, cost
flotilla recover                             # after a crash: finish every unfinished run (= runs resume-all)
flotilla runs pause run_…                    # hold a run back from recovery …
flotilla runs resume run_…                   # … and finish it later, here
flotilla runs cancel run_… --reason "obsolete"
flotilla runs replay run_… --from fix --set fix.input.apply=true
flotilla runs prune --older-than 30d
\`\`\`

- **Recovery** (\`flotilla recover\`, \`flotilla runs resume <id>\`) keeps the stored results of the tasks that succeeded and never runs them again; a task that was running when the process stopped runs again with attempt + 1 and the same \`ctx.idempotencyKey\`. Paused runs stay paused until \`runs resume\`. The run goes on with the workflow definition it started with, even if the file was edited since. Recover only runs whose process has stopped: one process executes a run at a time.
- **Agents of stored runs.** A stored run names its agents module in its pinned definition (\`agents:\`). \`flotilla run\` stores that path absolute, so \`recover\`, \`runs resume\` and \`runs replay\` find the module from any folder. A relative path (a run started from code) is resolved against \`--workflow-dir DIR\`, else the current folder; \`--agents MODULE\` names the module explicitly (after the project moved, or for runs started from code). When the module is missing, the error says which of these to pass.
- **Replay** starts a new run (its \`parentRunId\` is the old run) that keeps the stored results of every task except those named by \`--from\`, changed by \`--set task.field.path=value\` (merged into the task's spec: \`--set fix.input.apply=true\` keeps fix's other inputs), or reading an input changed by \`--input key=value\` (merged into the stored input), and everything downstream of them. With no option, it re-runs only what did not succeed.
- **Output.** Every command takes \`--json\`: only the machine-readable result goes to stdout. \`flotilla run\` and \`runs show\` print the run's final outputs (those of the tasks named in the workflow's \`outputs:\`, else of the tasks nothing depends on), cut short with a hint to \`--json\`. \`runs resume\`, \`runs replay\` and \`recover\` show the run like \`flotilla run\` (a live display on a terminal, one frame per run for \`recover\`; plain event lines otherwise or with \`--no-live\`) and exit 0 only if every run they executed SUCCEEDED.
- **Errors.** An unknown run id is \`RUN_NOT_FOUND\`; resuming, pausing or cancelling a finished run is \`RUN_STATE_INVALID\` (the message says to use \`runs replay\`); a replay naming a task the workflow does not have is \`VALIDATION_FAILED\`; a malformed \`--older-than\` is \`CLI_USAGE\` (exit 2). Store problems: \`STORE_URL_INVALID\` (malformed spec), \`STORE_UNAVAILABLE\` (cannot connect or open), \`STORE_NOT_FLOTILLA\` (a file or database of something else, left untouched), \`STORE_SCHEMA_TOO_NEW\` (written by a newer Flotilla). Commands that only read or manage runs never create a store file: a missing file is an empty store.
`

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => (l === '' ? '    ' : `    ${l}`))
    .join('\n')
}

function sections(commands: readonly Command[]): string[] {
  return commands.flatMap((c) => [`## flotilla ${c.name}\n\n${indent(c.help)}\n`, ...sections(c.subcommands ?? [])])
}

/** The text of docs/cli.md. */
function cliReference(): string {
  return [INTRO, `${indent(globalHelp())}\n`, DURABLE, ...sections(COMMANDS)].join('\n')
}

describe('docs/cli.md', () => {
  it('holds the --help text of every command and subcommand', () => {
    const expected = cliReference()
    if (process.env.UPDATE_CLI_DOC === '1') writeFileSync(DOC, expected)
    expect(
      readFileSync(DOC, 'utf8'),
      'docs/cli.md is out of date: run UPDATE_CLI_DOC=1 npx vitest run test/cli/cli-doc.test.ts',
    ).toBe(expected)
  })
})
