import { cp, mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative, resolve, isAbsolute } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expectPositionals, parseInputs, splitArgs, validateOptions } from './args.js'
import { RUN_FLAGS, runFlagValues, type Command } from './command.js'
import { runOptionsSchema } from './run-command.js'
import { executeRun } from './execute-run.js'
import { paint } from './format.js'
import { prepareWorkflow } from './prepare.js'
import { openCliBackend, STORE_HELP, storeLabel, storeSpec } from './store-option.js'
import { formatStoredNote } from './summary.js'

/** The folder of the scan-and-fix example (the same relative place from src/cli and dist/cli). */
export const DEMO_DIR = fileURLToPath(new URL('../../examples/scan-and-fix/', import.meta.url))

/** The options of `flotilla demo`: those of `run` without the file. */
const demoOptionsSchema = runOptionsSchema.omit({ file: true })

const HELP = `Usage: flotilla demo [options]

Runs examples/scan-and-fix: four scanner shards walk a folder in parallel
and report problems (trailing whitespace, missing final newline, tabs mixed
with spaces, CRLF line endings, over-long lines, TODO/FIXME markers, empty
and non-UTF-8 files); four fixers fix what can be fixed; a reporter adds it
all up. By default it scans the sample folder shipped with the example and
only reports what it would fix (dry run).

Inputs:
  --input target=PATH     Folder to scan (relative to the current directory).
                          Default: the shipped sample folder
  --input apply=true      Write the fixes, each file after a <file>.bak backup.
                          The shipped sample is never modified: with no target,
                          a copy of it in a temporary folder is fixed instead

Options:
  -i, --input key=value   A run input (see above); repeat for several
      --json              Print only the run result as JSON at the end
      --concurrency N     Most tasks running at once
${STORE_HELP}
      --no-live           Plain event lines even on a terminal
      --verbose           Show progress and log events, and error stacks
  -h, --help              Show this help

Like "flotilla run", the demo's run is stored (by default in
.flotilla/flotilla.db of the current folder), so "flotilla runs list" and
"flotilla runs show <id>" show it afterwards; --store memory keeps nothing.`

/** `flotilla demo`: runs the scan-and-fix example and prints its report. */
export const demoCommand: Command = {
  name: 'demo',
  summary: 'Run the scan-and-fix example on a sample folder (dry run unless --input apply=true)',
  help: HELP,
  flags: RUN_FLAGS,
  async execute(argv, io) {
    const { values, positionals } = splitArgs('demo', argv, RUN_FLAGS)
    expectPositionals('demo', positionals, [])
    const options = validateOptions('demo', demoOptionsSchema, {
      ...runFlagValues(values),
    })
    parseInputs('demo', options.input)
    const label = storeLabel(storeSpec(options.store))
    const prepared = await prepareWorkflow(join(DEMO_DIR, 'workflow.yaml'), {
      openBackend: () => openCliBackend(options.store),
    })
    try {
      const input = parseInputs('demo', options.input, prepared.workflow.spec.inputs)
      const sample = join(DEMO_DIR, 'sample')
      let target = typeof input.target === 'string' ? resolve(input.target) : sample
      if (input.apply === true && isInside(target, sample)) {
        const copy = join(await mkdtemp(join(tmpdir(), 'flotilla-demo-')), 'sample')
        await cp(sample, copy, { recursive: true })
        target = join(copy, relative(sample, target))
        const note = `Fixing a copy of the shipped sample (it is never modified): ${target}\n`
        if (options.json) io.err.write(note)
        else io.out.write(note)
      }
      input.target = target
      // The report is printed as text below, not as an output.
      const result = await executeRun(prepared, input, { ...options, outputs: false }, io)
      const report = result.outputs.report as { text?: unknown } | undefined
      if (!options.json && typeof report?.text === 'string')
        io.out.write(`\n${report.text}${report.text.endsWith('\n') ? '' : '\n'}`)
      if (!options.json)
        io.out.write(
          formatStoredNote(
            result,
            { label, durable: prepared.orchestrator.store.durable, flag: options.store },
            paint(io.out.isTTY === true),
          ),
        )
      return result.ok ? 0 : 1
    } finally {
      await prepared.orchestrator.close()
    }
  },
}

function isInside(path: string, folder: string): boolean {
  const rel = relative(folder, path)
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel))
}
