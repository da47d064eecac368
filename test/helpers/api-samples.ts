import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { ApiRoute } from '../../src/server/api-route.js'

/** The agent modules folder the API tests' servers deploy from. */
export const AGENT_MODULES = resolve(import.meta.dirname, '../fixtures/server-agents')
/** Where their deployed agents get workspaces. */
export const AGENT_WORKSPACE = join(tmpdir(), 'flotilla-api-agents')

/** `METHOD /path` of a route, as in the route table (`POST /runs/{id}/cancel`). */
export const routeLabel = (r: ApiRoute): string => `${r.config.method.toUpperCase()} ${r.config.path}`

/** The path parameters of a route, in order. */
export const routeParams = (r: ApiRoute): string[] =>
  [...r.config.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1] as string)

/** True when the route declares a request body. */
export const takesBody = (r: ApiRoute): boolean =>
  (r.config.request as { body?: unknown } | undefined)?.body !== undefined

/** True for a route anyone may call without a key. */
export const isPublicRoute = (r: ApiRoute): boolean => 'public' in r.access

/**
 * A valid body for every route of the HTTP API that takes one, by
 * {@link routeLabel}. The authorization matrix fails for a body-taking
 * route missing here; the fuzz test starts its mutations from these.
 */
export const SAMPLE_BODIES: Readonly<Record<string, unknown>> = {
  'POST /workflows/validate': { name: 'sample', tasks: [{ id: 'a', agent: 'echo', input: 1 }] },
  'POST /workflows/{name}/runs': { input: { name: 'sample' } },
  'POST /runs': { workflow: { name: 'inline', tasks: [{ id: 'a', agent: 'echo', input: 1 }] }, input: 1 },
  'POST /runs/{id}/replay': { from: ['a'] },
  'POST /runs/{id}/pause': {},
  'POST /runs/{id}/resume': {},
  'POST /runs/{id}/cancel': { reason: 'sample' },
  'POST /security/keys': { name: 'sample', role: 'GUEST' },
  'POST /security/keys/{id}/rotate': { graceMs: 0 },
  'PUT /artifacts/{id}': { content: { n: 1 }, tags: ['sample'] },
  'PUT /cache/{key}': { value: 7, ttlMs: 60_000 },
  'POST /deployed-agents': { spec: { name: 'sample', module: 'sample.mjs' } },
  'POST /deployed-agents/{id}/pause': {},
  'POST /deployed-agents/{id}/resume': {},
  'POST /deployed-agents/{id}/restart': {},
  'POST /deployed-agents/{id}/scale': { limits: { memoryMb: 64 } },
  'POST /deployed-agents/{id}/terminate': { reason: 'sample' },
  'POST /deployed-agents/{id}/execute': { input: 1 },
  'POST /deployed-agents/{id}/messages': { message: 'hello' },
  'POST /deployed-agents/{id}/messages/receive': { max: 1 },
  'POST /agents/{name}/dead-letters/{id}/replay': {},
  'PUT /alerts/rules': { rules: [{ kind: 'runCost', threshold: 5 }] },
}
