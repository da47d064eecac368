/**
 * The HTTP API of Flotilla: `flotilla/server`. {@link startServer} serves it
 * on a backend; {@link createApiApp} gives the Hono app to mount elsewhere.
 *
 * @packageDocumentation
 */
export { startServer } from './server/serve.js'
export type { ServerOptions, RunningServer } from './server/serve.js'
export { createApiApp, openApiDocument, API_BASE } from './server/app.js'
export { WorkflowCatalog } from './server/workflow-catalog.js'
export { hostAgents } from './server/agent-host.js'
export type { AgentHost, ServerAgentsOptions } from './server/agent-host.js'
export { API_ROUTES } from './server/routes/index.js'
export type { ApiRoute, RouteAccess } from './server/api-route.js'
export { requiredGrant } from './server/api-route.js'
export type { ServerDeps, ServerEnv } from './server/server-deps.js'
export type { ErrorBody } from './server/http-errors.js'
