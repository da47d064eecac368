import { resolve } from 'node:path'
import type { AgentTemplate } from '../agents/agent-template.js'
import type { AnyAgentDefinition } from '../agents/define-agent.js'
import { FlotillaError } from '../core/errors.js'
import { openBackend } from '../orchestrator/backend.js'
import { Worker } from '../orchestrator/worker.js'
import { parseStoreSpec } from '../store/open-store.js'
import type { Runtime } from '../runtimes/runtime.js'
import { otlpTracesEndpoint, otlpTracing } from '../telemetry/otlp.js'
import { LOG_LEVEL_HELP, logLevel, logRunEvents, openLogger, TraceIds } from './cli-logs.js'
import { loadAlertsFile, type AlertsConfig } from '../telemetry/alerts/config.js'
import { formatAlertLine } from './event-lines.js'
import { importAgents } from './agents-module.js'
import { expectPositionals, splitArgs, usageError } from './args.js'
import { COMMON_FLAGS, type Command } from './command.js'
import type { CliIO } from './execute-run.js'
import { KUBERNETES_FLAGS, KUBERNETES_HELP, kubernetesChoice, kubernetesRuntimes } from './kubernetes-option.js'
import { securityParts } from './security-cli.js'
import { STORE_HELP, storeLabel, storeSpec } from './store-option.js'

const FLAGS = {
  ...COMMON_FLAGS,
  host: { type: 'string' },
  port: { type: 'string' },
  store: { type: 'string' },
  workflows: { type: 'string' },
  worker: { type: 'boolean' },
  agents: { type: 'string', multiple: true },
  concurrency: { type: 'string' },
  'agent-modules': { type: 'string' },
  'agent-workspace': { type: 'string' },
  ...KUBERNETES_FLAGS,
  'log-level': { type: 'string' },
  alerts: { type: 'string' },
} as const

const HELP = `Usage: flotilla serve [options]

Serves the HTTP API (/api/v1: runs, workflows, workers, API keys, the audit
log, blocks; a reference page at /api/v1/docs) on the store. Every call
needs an API key (Authorization: Bearer flt_…), except /api/v1/health and
/api/v1/ready. On a store without keys, an ADMIN key is created and printed
ONCE; with FLOTILLA_ADMIN_KEY set (a flt_<id>_<secret> kept in a secret
manager), that key is imported instead. The server holds no agents: runs it
starts are executed by workers on the same store ("flotilla worker"), or by
the one --worker runs in this process. Ctrl-C (SIGINT) or SIGTERM stops it
gracefully: requests in flight get 10 s, running attempts 30 s.

Logs (pino) go to stderr: each HTTP request (method, route, status, ms), and
with --worker a line per run and task event with its run, task and trace ids;
keys and secrets are redacted. With OTEL_EXPORTER_OTLP_ENDPOINT set, spans
are exported over OTLP/HTTP (docs/observability.md).

Options:
      --host HOST         The address to listen on (default 127.0.0.1; 0.0.0.0
                          for every interface: put TLS in front of it)
      --port PORT         The port (default 7400; 0 picks a free one)
${STORE_HELP}
      --workflows DIR     A folder of workflow files the API offers by name
                          (POST /api/v1/workflows/<name>/runs)
      --agents MODULE     An agents module (.mjs/.js exporting defineAgent
                          definitions) for the worker; repeat for several
      --worker            Run a worker with the --agents in this process, on
                          the same store (the default with --agents on a
                          SQLite file or memory)
      --concurrency N     Most attempts the worker runs at once (default 16)
      --agent-modules DIR Deploy and govern agents through the API
                          (POST /api/v1/deployed-agents), from modules in DIR
                          only: deploying runs their code on this host
      --agent-workspace DIR  Where deployed agents get their workspaces
                          (default .flotilla/agents)
${KUBERNETES_HELP}
${LOG_LEVEL_HELP}
      --verbose           Log from debug up (unless --log-level), error stacks
      --alerts FILE       Alert rules and webhook (YAML or JSON; see
                          docs/observability.md): alerts are printed here,
                          listed by GET /api/v1/alerts, and POSTed to the
                          webhook; ADMIN keys change them with PUT
                          /api/v1/alerts/rules, which stores them: without
                          --alerts the server starts with the stored rules;
                          with it, the file wins at each start
  -h, --help              Show this help

Examples:
  flotilla serve
  flotilla serve --workflows ./workflows --agents ./agents.mjs
  flotilla serve --alerts alerts.yaml
  flotilla serve --host 0.0.0.0 --store postgres://postgres@127.0.0.1:5432/app --workflows ./workflows
  flotilla serve --agent-modules /app/agents --kubernetes --kubernetes-namespace agents`

function adminKeyNotice(key: string): string {
  const bar = '!'.repeat(78)
  return `${bar}
A new ADMIN API key was created for this store. It is shown ONLY ONCE, now:

  ${key}

Store it in a secret manager now: it cannot be shown again (only its hash is
kept). With it, create narrower keys for programs and people
(flotilla keys create, or POST /api/v1/security/keys).
${bar}
`
}

/** The agents and the agent templates of the --agents modules. */
async function loadDefinitions(
  modules: readonly string[],
): Promise<{ definitions: AnyAgentDefinition[]; templates: AgentTemplate[] }> {
  const out: AnyAgentDefinition[] = []
  const templates: AgentTemplate[] = []
  for (const module of modules) {
    const path = resolve(module)
    const loaded = await importAgents(
      path,
      () =>
        new FlotillaError('FILE_NOT_FOUND', `Agents module "${module}" does not exist (looked for ${path}).`, {
          details: { module: path },
        }),
    )
    out.push(...loaded.definitions)
    templates.push(...loaded.templates)
  }
  return { definitions: out, templates }
}

/** The banner's line on deployed agents: where their modules come from, and where they run. */
function agentsLine(modules: string | undefined, runtimes: readonly Runtime[] | undefined): string {
  if (modules === undefined) return 'none deployed here (--agent-modules DIR deploys through the API)'
  const pods = runtimes?.find((r): r is Runtime & { namespace: string } => r.kind === 'kubernetes' && 'namespace' in r)
  return `deployed from ${modules}${pods === undefined ? '' : `, as pods in namespace ${pods.namespace} (kubernetes runtime)`}`
}

/** Resolves once SIGINT or SIGTERM arrives (a second one exits at once), with its name. */
function untilSignal(io: CliIO): Promise<string> {
  return new Promise((done) => {
    const first = (signal: string): void => {
      process.off('SIGINT', onInt)
      process.off('SIGTERM', onTerm)
      const again = (): void => {
        io.err.write('flotilla serve: stopping at once\n')
        process.exit(1)
      }
      process.once('SIGINT', again)
      process.once('SIGTERM', again)
      done(signal)
    }
    const onInt = (): void => first('SIGINT')
    const onTerm = (): void => first('SIGTERM')
    process.on('SIGINT', onInt)
    process.on('SIGTERM', onTerm)
  })
}

function whole(text: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (text === undefined) return undefined
  const n = /^\d+$/.test(text) ? Number(text) : NaN
  if (!(n >= min && n <= max)) throw usageError('serve', `--${flag} must be a whole number from ${min} to ${max}.`)
  return n
}

/** `flotilla serve`: the HTTP API, optionally with a worker, until stopped. */
export const serveCommand: Command = {
  name: 'serve',
  summary: 'Serve the HTTP API (API keys, audit log, rate limits); --worker runs agents too',
  help: HELP,
  flags: FLAGS,
  async execute(argv, io) {
    const { values, positionals } = splitArgs('serve', argv, FLAGS)
    expectPositionals('serve', positionals, [])
    const port = whole(values.port as string | undefined, 'port', 0, 65_535) ?? 7400
    const concurrency = whole(values.concurrency as string | undefined, 'concurrency', 1, 100_000)
    const host = (values.host as string | undefined) ?? '127.0.0.1'
    const modules = (values.agents as string[] | undefined) ?? []
    const spec = storeSpec(values.store as string | undefined)
    const label = storeLabel(spec)
    const kind = parseStoreSpec(spec).kind
    if (values.worker === true && modules.length === 0)
      throw usageError('serve', '--worker needs the agents it runs: add --agents ./agents.mjs.')
    if (modules.length > 0 && values.worker !== true && kind === 'postgres')
      throw usageError(
        'serve',
        'With a PostgreSQL store, add --worker to run the --agents in this process too, or run them in "flotilla worker" processes.',
      )
    const kubernetes = kubernetesChoice('serve', values, values['agent-modules'] !== undefined)
    const alerts = values.alerts === undefined ? undefined : await loadAlertsFile(resolve(values.alerts as string))
    const { definitions, templates } = await loadDefinitions(modules)
    const runtimes = kubernetes === undefined ? undefined : await kubernetesRuntimes(kubernetes)
    const verbose = values.verbose === true
    const level = logLevel('serve', (values['log-level'] as string | undefined) ?? (verbose ? 'debug' : undefined))
    const { logger } = await openLogger(io, level, 'flotilla-serve')
    const otlp = otlpTracesEndpoint() === undefined ? undefined : await otlpTracing('flotilla-serve')
    const traces = new TraceIds(logger)
    const { startServer } = await import('../server/serve.js')
    const backend = await openBackend(spec)
    let worker: Worker | undefined
    let server: Awaited<ReturnType<typeof startServer>> | undefined
    try {
      if (securityParts(backend).security === undefined || kind === 'memory')
        io.err.write(
          `warning: the store ${label} keeps no API keys or audit log: they live in this process and end with it.\n`,
        )
      const fromEnv = process.env.FLOTILLA_ADMIN_KEY !== undefined && process.env.FLOTILLA_ADMIN_KEY !== ''
      server = await startServer({
        backend,
        host,
        port,
        logger,
        ...(otlp === undefined ? {} : { tracer: otlp.tracer }),
        ...(values.workflows === undefined ? {} : { workflows: resolve(values.workflows as string) }),
        ...(values['agent-modules'] === undefined
          ? {}
          : {
              agents: {
                modules: resolve(values['agent-modules'] as string),
                ...(values['agent-workspace'] === undefined
                  ? {}
                  : { workspaceRoot: resolve(values['agent-workspace'] as string) }),
                ...(runtimes === undefined ? {} : { runtimes }),
              },
            }),
        onAdminKey: (key) => io.out.write(adminKeyNotice(key)),
        ...(alerts === undefined ? {} : { alerts }),
      })
      server.deps.alerts.on((e) => io.err.write(`${formatAlertLine(e)}\n`))
      if (fromEnv) io.out.write('The ADMIN key of FLOTILLA_ADMIN_KEY is in place.\n')
      if (definitions.length > 0) {
        worker = new Worker({
          backend,
          telemetry: {
            logger,
            ...(server.metrics === undefined ? {} : { meter: server.metrics.meter }),
            ...(otlp === undefined ? {} : { tracer: otlp.tracer }),
          },
          interceptors: [traces.interceptor],
          ...(concurrency === undefined ? {} : { concurrency }),
        })
        for (const t of templates) worker.registry.templates.register(t)
        for (const d of definitions) await worker.register(d)
        worker.on('*', logRunEvents(logger.child({ worker: worker.id }), traces))
        await worker.start()
      }
      const names = server.deps.workflows.list().map((w) => w.name)
      const api = `${server.url}/api/v1`
      io.out.write(`flotilla serve: listening on ${server.url}
  dashboard  ${server.dashboard === undefined ? 'not built (npm run build writes dist/ui)' : `${server.url}/`}
  api        ${api}
  reference  ${api}/docs
  metrics    ${server.url}/metrics (Prometheus; a key that may read runs, e.g. ANALYST)
  store      ${label}
  workflows  ${names.length === 0 ? 'none (--workflows DIR offers some by name)' : names.join(', ')}
  agents     ${agentsLine(server.deps.agents?.modules, runtimes)}
  alerts     ${alertsLine(server.deps.alerts.rules(), alerts === undefined ? 'stored' : 'file')}
  worker     ${
    worker === undefined
      ? 'none: runs wait for a "flotilla worker" on this store'
      : `${worker.id}: ${definitions.map((d) => `${d.name}@${d.version}`).join(', ')} (concurrency ${concurrency ?? 16})`
  }
Ctrl-C or SIGTERM stops it.
`)
      const signal = await untilSignal(io)
      io.out.write(`flotilla serve: ${signal}, stopping (requests in flight get 10 s, running attempts 30 s)\n`)
      await Promise.all([server.close(10_000), worker?.stop()])
      io.out.write('flotilla serve: stopped\n')
      return 0
    } finally {
      await Promise.all([server?.close(0), worker?.stop({ drainMs: 0 })]).catch(() => undefined)
      await backend.close()
      await otlp?.shutdown()
    }
  },
}

/** The startup line of the alert rules in force: from the file, or stored by the API. */
function alertsLine(config: AlertsConfig, from: 'file' | 'stored'): string {
  if (config.rules.length === 0 && config.webhook === undefined)
    return 'no rules (--alerts FILE, or PUT /api/v1/alerts/rules)'
  const webhook = config.webhook === undefined ? '' : `, webhook ${config.webhook.url}`
  return `${config.rules.length} rule(s)${webhook} (${from === 'file' ? 'from the --alerts file' : 'stored by the API'})`
}
