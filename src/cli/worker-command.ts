import { resolve } from 'node:path'
import { z } from 'zod'
import { FlotillaError } from '../core/errors.js'
import { Worker } from '../orchestrator/worker.js'
import { importAgents } from './agents-module.js'
import { splitArgs, validateOptions } from './args.js'
import { COMMON_FLAGS, type Command } from './command.js'
import { STORE_HELP, storeLabel, storeSpec } from './store-option.js'
import { LOG_LEVEL_HELP, logLevel, logRunEvents, openLogger, TraceIds } from './cli-logs.js'
import { otlpTracesEndpoint, otlpTracing } from '../telemetry/otlp.js'

const FLAGS = {
  ...COMMON_FLAGS,
  store: { type: 'string' },
  agents: { type: 'string', multiple: true },
  concurrency: { type: 'string' },
  'lease-ms': { type: 'string' },
  id: { type: 'string' },
  'log-level': { type: 'string' },
} as const

const count = (what: string, min: number) =>
  z.coerce
    .number({ error: `must be a number (${what})` })
    .int(`must be a whole number (${what})`)
    .min(min, `must be at least ${min} (${what})`)

/** The options of `flotilla worker`, after validation. */
export const workerOptionsSchema = z.object({
  agents: z
    .array(z.string().min(1))
    .min(1, 'missing; name the agents module, as in "flotilla worker --agents ./agents.mjs"'),
  concurrency: count('attempts at once', 1).optional(),
  leaseMs: count('milliseconds', 300).optional(),
  id: z.string().min(1).optional(),
  store: z.string().optional(),
  verbose: z.boolean(),
})

const HELP = `Usage: flotilla worker --agents <module> [options]

Runs a worker: it advertises the agents of the module(s) in the store's
catalog, takes the runs nobody holds (new runs started with
"flotilla run --submit" or a Client, and runs whose worker died, after their
lease), and claims and runs the attempts its agents can run. Start as many as
you like on one store: PostgreSQL for several hosts, a SQLite file for
several processes on one host. Ctrl-C (SIGINT) or SIGTERM stops it gracefully:
running attempts get 30 s to finish, the rest goes back to the queue.

Agents with "scaling" are auto-scaled from the attempts waiting for them in
the shared queue, between min and max instances in each worker (max is per
worker; docs/scaling.md); each change is logged and an agent.scaled event.

Logs (pino) go to stderr: a line per run and task event with its run, task
and trace ids, keys and secrets redacted. With OTEL_EXPORTER_OTLP_ENDPOINT
set, spans are exported over OTLP/HTTP (docs/observability.md).

Options:
      --agents MODULE     An agents module (.mjs/.js exporting defineAgent
                          definitions); repeat for several
      --concurrency N     Most attempts running at once (default 16)
      --lease-ms MS       Lease of runs and attempts without a heartbeat
                          (default 15000); a dead worker's work is taken over
                          after it
      --id ID             The worker's id in the catalog (default: generated)
${STORE_HELP}
${LOG_LEVEL_HELP}
      --verbose           Print every event, and error stacks
  -h, --help              Show this help

Examples:
  flotilla worker --store postgres://postgres@127.0.0.1:5432/app --agents ./agents.mjs
  flotilla worker --store .flotilla/flotilla.db --agents ./agents.mjs --concurrency 50`

/** `flotilla worker`: runs a worker until stopped. */
export const workerCommand: Command = {
  name: 'worker',
  summary: 'Run a worker that takes runs and attempts from a shared store',
  help: HELP,
  flags: FLAGS,
  async execute(argv, io) {
    const { values } = splitArgs('worker', argv, FLAGS)
    const options = validateOptions('worker', workerOptionsSchema, {
      agents: values.agents ?? [],
      concurrency: values.concurrency,
      leaseMs: values['lease-ms'],
      id: values.id,
      store: values.store,
      verbose: values.verbose === true,
    })
    const spec = storeSpec(options.store)
    const level = logLevel('worker', values['log-level'] as string | undefined)
    const { logger } = await openLogger(io, level, 'flotilla-worker')
    const otlp = otlpTracesEndpoint() === undefined ? undefined : await otlpTracing('flotilla-worker')
    const traces = new TraceIds(logger)
    const worker = new Worker({
      store: spec,
      concurrency: options.concurrency,
      leaseMs: options.leaseMs,
      id: options.id,
      telemetry: { logger, ...(otlp === undefined ? {} : { tracer: otlp.tracer }) },
      interceptors: [traces.interceptor],
    })
    const names: string[] = []
    for (const module of options.agents) {
      const path = resolve(module)
      const { definitions, templates } = await importAgents(
        path,
        () =>
          new FlotillaError('FILE_NOT_FOUND', `Agents module "${module}" does not exist (looked for ${path}).`, {
            details: { module: path },
          }),
      )
      // Templates first: the worker advertises them beside its agents (GET /api/v1/agent-templates).
      for (const t of templates) worker.registry.templates.register(t)
      for (const d of definitions) {
        await worker.register(d)
        const s = d.scaling
        names.push(`${d.name}@${d.version}${s === undefined ? '' : ` (scaled ${s.min}–${s.max})`}`)
      }
    }
    if (options.verbose) worker.on('*', (e) => io.out.write(`${JSON.stringify(e)}\n`))
    worker.on('*', logRunEvents(logger.child({ worker: worker.id }), traces))
    await worker.start()
    io.out.write(
      `worker ${worker.id} ready on ${storeLabel(spec)}: ${names.join(', ')} (concurrency ${options.concurrency ?? 16})\n`,
    )
    await new Promise<void>((done) => {
      const stop = (signal: string): void => {
        process.off('SIGINT', onInt)
        process.off('SIGTERM', onTerm)
        io.out.write(`worker ${worker.id}: ${signal}, stopping (running attempts get 30 s)\n`)
        done()
      }
      const onInt = (): void => stop('SIGINT')
      const onTerm = (): void => stop('SIGTERM')
      process.on('SIGINT', onInt)
      process.on('SIGTERM', onTerm)
    })
    await worker.stop()
    await otlp?.shutdown()
    io.out.write(`worker ${worker.id} stopped\n`)
    return 0
  },
}
