import type { ApiRoute } from '../api-route.js'
import { agentRoutes } from './agents.js'
import { alertRoutes } from './alerts.js'
import { contextRoutes } from './context.js'
import { deadLetterRoutes } from './dead-letters.js'
import { deployedAgentRoutes } from './deployed-agents.js'
import { deployedControlRoutes } from './deployed-control.js'
import { lineageRoutes } from './lineage.js'
import { liveRoutes } from './live.js'
import { runGraphRoutes } from './run-graph.js'
import { runRoutes } from './runs.js'
import { securityRoutes } from './security.js'
import { systemRoutes } from './system.js'
import { workflowRoutes } from './workflows.js'

/**
 * The route table of the HTTP API (paths relative to `/api/v1`). Every
 * route declares who may call it; the authorization matrix test walks this
 * list, so a route added here is covered by it.
 */
export const API_ROUTES: readonly ApiRoute[] = [
  ...systemRoutes,
  ...workflowRoutes,
  ...runRoutes,
  ...runGraphRoutes,
  ...liveRoutes,
  ...agentRoutes,
  ...deadLetterRoutes,
  ...deployedAgentRoutes,
  ...deployedControlRoutes,
  ...contextRoutes,
  ...lineageRoutes,
  ...securityRoutes,
  ...alertRoutes,
] as unknown as readonly ApiRoute[]
