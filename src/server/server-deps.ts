import type { Clock } from '../core/clock.js'
import type { ContextStore } from '../context/context-store.js'
import type { Bus } from '../messaging/bus.js'
import type { Client } from '../orchestrator/client.js'
import type { Authorizer } from '../security/authorizer.js'
import type { ApiKeys, KeyPrincipal } from '../security/api-keys.js'
import type { AuditLog } from '../security/audit.js'
import type { RequestGuard } from '../security/guard.js'
import type { AlertMonitor } from '../telemetry/alerts/monitor.js'
import type { Logger, Meter } from '../telemetry/telemetry.js'
import type { AgentHost } from './agent-host.js'
import type { LiveOptions } from './live-events.js'
import type { WorkflowCatalog } from './workflow-catalog.js'

/** What the HTTP API is built from: a client of the store (it holds no agents) and the security parts. */
export interface ServerDeps {
  /** Starts, controls and reads runs in the shared store; workers execute them. */
  readonly client: Client
  /** Artifacts and cache of the backend; the routes check each key's grants, then act as `key:<id>`. */
  readonly context: ContextStore
  readonly keys: ApiKeys
  readonly audit: AuditLog
  readonly guard: RequestGuard
  /** Makes every permission decision of API keys. */
  readonly authorizer: Authorizer
  /**
   * The deployed agents this server governs (deploy, commands, lifecycle);
   * `undefined`: it governs none (deploy answers `AGENT_HOST_DISABLED`),
   * and still lists the agents every process stored.
   */
  readonly agents?: AgentHost
  /**
   * The mailboxes whose dead letters the API lists and replays: the
   * backend's shared bus (PostgreSQL), else the bus of the agents this
   * server governs; `undefined`: none (the lists are empty).
   */
  readonly bus?: Bus
  /** The alert rules and alerts (`/api/v1/alerts`), watching the store's events. */
  readonly alerts: AlertMonitor
  /** The named workflows the API can start. */
  readonly workflows: WorkflowCatalog
  readonly clock: Clock
  readonly logger: Logger
  /** Largest request body in bytes. @default 1 MiB */
  readonly maxBodyBytes?: number
  /** Where the HTTP metrics go and what `GET /metrics` serves; no `/metrics` without it. */
  readonly metrics?: {
    readonly meter: Meter
    readonly contentType: string
    metrics(): Promise<string>
    /** The same text as UTF-8 bytes (sent as they are when given). */
    body?(): Promise<Uint8Array<ArrayBuffer>>
  }
  /** How the live event streams learn of new events: commit wake-ups, poll interval. @default poll only */
  readonly live?: LiveOptions
  /** True once the server accepts work (readiness). */
  readonly ready: () => boolean
}

/** The Hono environment of the API: per-request values set by its middleware. */
export interface ServerEnv {
  Variables: {
    /** The `X-Request-Id` given by the client, or a new one; echoed in the response and the audit log. */
    requestId: string
    /** The client's address. */
    ip: string
    /** The key that authenticated the request; unset on a public route called without a key. */
    principal: KeyPrincipal | undefined
    deps: ServerDeps
    /** Facts a handler adds to the audit entry of its state-changing call (the id of the agent deployed…). */
    auditDetails: Readonly<Record<string, unknown>> | undefined
  }
}
