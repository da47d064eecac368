import { z } from '@hono/zod-openapi'
import { AGENT_STATES } from '../core/states.js'
import { PermissionSchema } from './schemas.js'

const LimitsSchema = z
  .object({
    memoryMb: z.number().positive().optional(),
    cpuMs: z.number().positive().optional(),
    storageMb: z.number().positive().optional(),
  })
  .strict()
  .openapi('ResourceLimits')

/** Resource limits of a deployed agent, as `scale` takes them. */
export const ResourceLimitsSchema = LimitsSchema

const infoShape = {
  id: z.string().openapi({ example: 'agt_m1abc' }),
  name: z.string(),
  version: z.string(),
  parentId: z.string().nullable(),
  runtime: z.string(),
  state: z.enum(AGENT_STATES as unknown as [string, ...string[]]),
  reason: z.string().nullable(),
  permissions: z.array(PermissionSchema),
  limits: LimitsSchema,
  pid: z.number().nullable(),
  capabilities: z.array(z.string()),
  tags: z.array(z.string()),
  createdAt: z.number(),
  updatedAt: z.number(),
}

/** A deployed agent as stored (`AgentInfo`). */
export const AgentInfoSchema = z.object(infoShape).openapi('DeployedAgent')

/** A deployed agent with its descendants. */
export interface AgentTreeView extends z.infer<typeof AgentInfoSchema> {
  children: AgentTreeView[]
}

/** A deployed agent with all its descendants (`children` nested). */
export const AgentTreeSchema: z.ZodType<AgentTreeView> = z
  .object({
    ...infoShape,
    children: z.array(z.lazy(() => AgentTreeSchema)),
  })
  .openapi('DeployedAgentTree')

/** One stored lifecycle transition of a deployed agent. */
export const AgentTransitionSchema = z
  .object({
    seq: z.number(),
    from: z.string().nullable(),
    to: z.string(),
    reason: z.string().nullable(),
    at: z.number(),
  })
  .openapi('AgentTransition')

/** Command metrics of an agent (`AgentMetricsSnapshot`). */
export const AgentMetricsSchema = z
  .object({
    calls: z.number(),
    errors: z.number(),
    successRate: z.number(),
    meanLatencyMs: z.number(),
    p95LatencyMs: z.number(),
    ewmaLatencyMs: z.number(),
    ewmaErrorRate: z.number(),
    lastError: z.string().optional(),
  })
  .openapi('AgentCommandMetrics')

/** What a deployed agent uses now, with its command metrics. */
export const AgentUsageSchema = z
  .object({
    agentId: z.string(),
    name: z.string(),
    state: z.string(),
    memoryBytes: z.number(),
    heapUsedBytes: z.number(),
    cpuMs: z.number(),
    storageBytes: z.number(),
    at: z.number(),
    pod: z
      .object({ cpuCores: z.number(), memoryBytes: z.number(), at: z.number(), windowMs: z.number() })
      .optional()
      .openapi({
        description:
          'The pod’s usage from the cluster’s metrics API (kubernetes runtime, when the cluster has one); memoryBytes is then its working set',
      }),
    metrics: AgentMetricsSchema,
  })
  .openapi('AgentUsage')

/** A message of a mailbox. */
export const MailMessageSchema = z
  .object({
    id: z.string(),
    from: z.string(),
    to: z.string(),
    body: z.unknown(),
    headers: z.record(z.string(), z.string()),
    attempt: z.number(),
    sentAt: z.number(),
  })
  .openapi('MailMessage')
