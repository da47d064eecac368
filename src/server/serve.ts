import type { AddressInfo } from 'node:net'
import { getConnInfo } from '@hono/node-server/conninfo'
import { serve as serveNode, type ServerType } from '@hono/node-server'
import { systemClock, type Clock } from '../core/clock.js'
import { FlotillaError } from '../core/errors.js'
import { ContextStore } from '../context/context-store.js'
import { openBackend, type Backend } from '../orchestrator/backend.js'
import { Client } from '../orchestrator/client.js'
import { ApiKeys } from '../security/api-keys.js'
import { AuditLog } from '../security/audit.js'
import { Authorizer } from '../security/authorizer.js'
import { RequestGuard, type GuardOptions } from '../security/guard.js'
import { prometheusMeter, type PrometheusMetrics } from '../telemetry/prometheus.js'
import { noopLogger, type Logger, type Tracer } from '../telemetry/telemetry.js'
import { hostAgents, type AgentHost, type ServerAgentsOptions } from './agent-host.js'
import { API_BASE, createApiApp } from './app.js'
import { defaultDashboardDir, loadDashboard } from './dashboard.js'
import type { ServerDeps } from './server-deps.js'
import { WorkflowCatalog } from './workflow-catalog.js'
import { AlertMonitor } from '../telemetry/alerts/monitor.js'
import { loadAlertsFile, type AlertsConfig } from '../telemetry/alerts/config.js'
import { storedAlertRules } from './alert-rules.js'
import { alertFeed, type AlertFeed } from './alert-feed.js'
import { commitWake, LIVE_POLL_MS, type CommitWake } from './live-events.js'

/** Options of {@link startServer}; every field has a default. */
export interface ServerOptions {
  /** The backend URL (`memory`, `sqlite:<file>`, `postgres://…`). @default $FLOTILLA_STORE, else the SQLite file */
  readonly store?: string
  /** An opened backend instead of `store` (not closed by the server). */
  readonly backend?: Backend
  /** @default "127.0.0.1" */
  readonly host?: string
  /** 0 picks a free port. @default 7400 */
  readonly port?: number
  /** The named workflows to offer: a catalog, or a folder of workflow files. @default an empty catalog */
  readonly workflows?: WorkflowCatalog | string
  /** Rate limits and threat detection. */
  readonly guard?: GuardOptions
  /**
   * How long a verified API key is trusted without reading the store again
   * (ms). A revoke or rotate through this server takes effect at once; one
   * made by another process on the same store (`flotilla keys revoke`,
   * another server) within this time. 0: read the key on every request.
   * @default 1000
   */
  readonly keyCacheMs?: number
  /**
   * The first ADMIN key: imported when given (`FLOTILLA_ADMIN_KEY`); else,
   * on a store without keys, one is created and handed to `onAdminKey` (the
   * only time its secret is shown).
   * @default process.env.FLOTILLA_ADMIN_KEY
   */
  readonly adminKey?: string
  /** Told the secret of an ADMIN key created at this start. */
  readonly onAdminKey?: (key: string) => void
  /** @default a no-op logger */
  readonly logger?: Logger
  /** Traces the runs started through the API (a `flotilla.run` span each, stored with the run). @default none */
  readonly tracer?: Tracer
  /** @default systemClock */
  readonly clock?: Clock
  /** Largest request body in bytes. @default 1 MiB */
  readonly maxBodyBytes?: number
  /**
   * What `GET /metrics` serves (Prometheus text), and where the server's
   * HTTP metrics go; pass the same one as `telemetry.meter` of a worker in
   * this process to serve its metrics too. `false`: no `/metrics`.
   * @default a new {@link prometheusMeter}
   */
  readonly metrics?: PrometheusMetrics | false
  /**
   * Deploy and govern agents through the API (`POST /api/v1/deployed-agents`…),
   * from modules in one folder. @default none: the server governs no agents
   * (it still lists those every process stored)
   */
  readonly agents?: ServerAgentsOptions
  /**
   * The web dashboard served at `/`: the folder of its built files, or
   * `false` for none. @default the package's `dist/ui` (none if the package
   * was not built)
   */
  readonly dashboard?: string | false
  /**
   * Alert rules watching the store's events (runs executed by any worker),
   * the governed agents' events and dead letters: a monitor, a configuration,
   * or the path of an alerts file (YAML or JSON). Changed through
   * `PUT /api/v1/alerts/rules`, which stores them in the store.
   * @default the rules stored by the last PUT, else none
   */
  readonly alerts?: AlertMonitor | AlertsConfig | string
  /**
   * How often the live event streams (`/api/v1/events`, `/runs/{id}/live`)
   * read the store when no commit woke them (ms). Events committed in this
   * process (a worker on the same backend) wake them at once; those
   * committed by other processes arrive within this time.
   * @default 200
   */
  readonly livePollMs?: number
}

/** A running API server. */
export interface RunningServer {
  /** `http://host:port` */
  readonly url: string
  readonly deps: ServerDeps
  /** The folder the dashboard at `/` is served from; undefined when there is none. */
  readonly dashboard: string | undefined
  /** The metrics `GET /metrics` serves (give `metrics.meter` to a worker in this process); undefined with `metrics: false`. */
  readonly metrics: PrometheusMetrics | undefined
  /** Stops taking connections, lets requests in flight finish (at most `graceMs`), then closes what it opened. */
  close(graceMs?: number): Promise<void>
}

/**
 * Starts the HTTP API on a backend: a {@link Client} of its store (the
 * server holds no agents; workers run the tasks), API keys, the audit log and
 * rate limits. Answers `/api/v1/…`.
 *
 * @example
 * ```ts
 * const server = await startServer({ store: 'memory', port: 0, onAdminKey: (k) => console.log('admin key', k) })
 * console.log((await fetch(`${server.url}/api/v1/health`)).status) // 200
 * await server.close()
 * ```
 */
export async function startServer(options: ServerOptions = {}): Promise<RunningServer> {
  const clock = options.clock ?? systemClock
  const livePollMs = options.livePollMs ?? LIVE_POLL_MS
  if (!(livePollMs >= 1 && livePollMs <= 2_147_483_647))
    throw new FlotillaError(
      'VALIDATION_FAILED',
      `livePollMs must be a number of ms from 1 to 2147483647, not ${String(livePollMs)}.`,
      {
        details: { livePollMs },
      },
    )
  const logger = options.logger ?? noopLogger
  const backend = options.backend ?? (await openBackend(options.store, { clock }))
  const owned = options.backend === undefined
  let agentHost: AgentHost | undefined
  let feed: AlertFeed | undefined
  const ownedMonitor = !(options.alerts instanceof AlertMonitor)
  const alerts =
    options.alerts instanceof AlertMonitor
      ? options.alerts
      : new AlertMonitor({
          logger,
          clock,
          ...(typeof options.alerts === 'string'
            ? await loadAlertsFile(options.alerts)
            : (options.alerts ?? (await storedAlertRules(backend.store, logger)))),
        })
  try {
    const { security, audit: auditStore } = backend
    const audit = new AuditLog(auditStore, { clock })
    const keys = new ApiKeys(security, {
      clock,
      ...(options.keyCacheMs === undefined ? {} : { cacheMs: options.keyCacheMs }),
    })
    const workflows = options.workflows instanceof WorkflowCatalog ? options.workflows : new WorkflowCatalog()
    if (typeof options.workflows === 'string') {
      const report = await workflows.discover(options.workflows)
      for (const f of report.failed) logger.warn({ path: f.path }, `a workflow file was not loaded: ${f.message}`)
    }
    const adminKey = options.adminKey ?? process.env.FLOTILLA_ADMIN_KEY
    if (adminKey !== undefined && adminKey !== '') {
      const known = (await keys.list()).length
      const info = await keys.importKey(adminKey, { name: 'admin', role: 'ADMIN', by: 'serve' })
      if ((await keys.list()).length > known)
        await audit.record({
          actor: 'serve',
          action: 'key.import',
          resource: `key:${info.id}`,
          outcome: 'succeeded',
          details: { role: 'ADMIN', from: 'FLOTILLA_ADMIN_KEY' },
        })
      logger.info({ keyId: info.id }, 'the ADMIN key from FLOTILLA_ADMIN_KEY is in place')
    } else if ((await keys.list()).length === 0) {
      const issued = await keys.create({ name: 'admin', role: 'ADMIN', by: 'serve' })
      await audit.record({
        actor: 'serve',
        action: 'key.create',
        resource: `key:${issued.info.id}`,
        outcome: 'succeeded',
        details: { role: 'ADMIN' },
      })
      options.onAdminKey?.(issued.key)
    }
    const metrics = options.metrics === false ? undefined : (options.metrics ?? (await prometheusMeter()))
    const client = await Client.connect(backend.store, {
      clock,
      ...(options.tracer === undefined ? {} : { tracer: options.tracer }),
    })
    let accepting = true
    const context = new ContextStore(backend.context, { clock })
    agentHost =
      options.agents === undefined
        ? undefined
        : hostAgents(options.agents, { store: backend.store, bus: backend.bus, context, clock, logger })
    const bus = agentHost?.bus ?? backend.bus
    feed = alertFeed({ client, bus, logger, ...(agentHost === undefined ? {} : { agents: agentHost }) })
    const detachAlerts = alerts.attach(feed)
    const deps: ServerDeps = {
      client,
      context,
      keys,
      audit,
      guard: await RequestGuard.create(security, audit, {
        clock,
        ...(backend.rateLimiters === undefined ? {} : { limiters: await backend.rateLimiters() }),
        ...options.guard,
      }),
      authorizer: new Authorizer(),
      alerts,
      workflows,
      clock,
      logger,
      ready: () => accepting,
      live: { ...liveWake(backend), pollMs: livePollMs },
      ...(metrics === undefined ? {} : { metrics }),
      ...(agentHost === undefined ? {} : { agents: agentHost }),
      ...(bus === undefined ? {} : { bus }),
      ...(options.maxBodyBytes === undefined ? {} : { maxBodyBytes: options.maxBodyBytes }),
    }
    const dashboardDir = options.dashboard === false ? undefined : (options.dashboard ?? defaultDashboardDir())
    const app = createApiApp(deps, {
      ...(dashboardDir === undefined ? {} : { dashboard: loadDashboard(dashboardDir) }),
      address: (c) => {
        try {
          return getConnInfo(c).remote.address ?? 'unknown'
        } catch {
          return 'unknown'
        }
      },
    })
    const host = options.host ?? '127.0.0.1'
    const server: ServerType = await new Promise((resolve, reject) => {
      const s = serveNode({ fetch: app.fetch, hostname: host, port: options.port ?? 7400 }, () => resolve(s))
      s.once('error', (e: NodeJS.ErrnoException) =>
        reject(
          new FlotillaError(
            'VALIDATION_FAILED',
            e.code === 'EADDRINUSE'
              ? `Port ${options.port ?? 7400} on ${host} is in use; pick another with --port.`
              : `The server could not listen on ${host}:${options.port ?? 7400}: ${e.message}`,
            { details: { host, port: options.port ?? 7400 }, cause: e },
          ),
        ),
      )
    })
    const { port } = server.address() as AddressInfo
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`
    logger.info({ url: `${url}${API_BASE}` }, 'the Flotilla API is listening')
    let closing: Promise<void> | undefined
    return {
      url,
      deps,
      metrics,
      dashboard: dashboardDir,
      close: (graceMs = 10_000) =>
        (closing ??= (async () => {
          accepting = false
          await new Promise<void>((resolve) => {
            const timer = setTimeout(() => {
              ;(server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.()
            }, graceMs)
            timer.unref()
            server.close(() => {
              clearTimeout(timer)
              resolve()
            })
            ;(server as unknown as { closeIdleConnections?: () => void }).closeIdleConnections?.()
          })
          detachAlerts()
          await feed?.close()
          if (ownedMonitor) await alerts.close()
          await agentHost?.close()
          await client.close()
          if (owned) await backend.close()
        })()),
    }
  } catch (e) {
    await feed?.close()
    if (ownedMonitor) await alerts.close()
    await agentHost?.close()
    if (owned) await backend.close()
    throw e
  }
}

/** The commit wake-ups of the backend's store, when it has them. */
function liveWake(backend: Backend): { wake?: CommitWake } {
  const wake = commitWake(backend.store)
  return wake === undefined ? {} : { wake }
}
