import { templateInfo } from '../agents/agent-template.js'
import type { Registry } from '../registry/registry.js'
import type { WorkerRecord } from '../store/queue.js'

/**
 * What a worker advertises in the stored catalog of what its registry holds:
 * each agent version with its capabilities and the stats of its instances
 * (for `GET /api/v1/agents/{name}/metrics` and `/health`), and the agent
 * templates it can spawn from (for `GET /api/v1/agent-templates`).
 */
export function registryCatalog(registry: Registry): Pick<WorkerRecord, 'agents' | 'templates'> {
  const metrics = registry.metrics()
  const ready = new Map<string, number>()
  for (const inst of registry.instances()) {
    const key = `${inst.definition.name}@${inst.definition.version}`
    ready.set(key, (ready.get(key) ?? 0) + (inst.state === 'READY' ? 1 : 0))
  }
  const agents = registry.definitions().map((d) => {
    const m = metrics[`${d.name}@${d.version}`]
    return {
      name: d.name,
      version: d.version,
      capabilities: [...(d.capabilities ?? [])],
      ...(m === undefined
        ? {}
        : {
            stats: {
              instances: m.instances,
              ready: ready.get(`${d.name}@${d.version}`) ?? 0,
              calls: m.calls,
              errors: m.errors,
              meanLatencyMs: m.meanLatencyMs,
              p95LatencyMs: m.p95LatencyMs,
              circuit: m.circuit,
            },
          }),
    }
  })
  return { agents, templates: registry.templates.list().map(templateInfo) }
}
