/**
 * What a `Registry` checks and does before a registration becomes visible:
 * its options validated once, each definition checked (made by
 * `defineAgent`, a semantic version, a valid instance count), and its
 * instances started all or nothing. Duplicates and the indexes are the
 * `Registry`'s and its catalog's.
 */
import { FlotillaError } from '../core/errors.js'
import { isAgentDefinition, type AnyAgentDefinition } from '../agents/define-agent.js'
import { AgentInstance, type AgentInstanceOptions } from './agent-instance.js'
import {
  instancesSchema,
  registryOptionsSchema,
  type RegisterOptions,
  type RegistryOptions,
} from './registry-options.js'
import { parseSemver } from './semver.js'

/** Validates the options of a `Registry`: `VALIDATION_FAILED` naming the first invalid one. */
export function checkRegistryOptions(options: RegistryOptions): void {
  const parsed = registryOptionsSchema.safeParse(options)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new FlotillaError(
      'VALIDATION_FAILED',
      `Invalid registry option "${issue?.path.join('.')}": ${issue?.message}.`,
      {
        details: { path: issue?.path.join('.') },
      },
    )
  }
}

/**
 * Checks what `Registry.register` was given and returns how many instances
 * to start (`options.instances`, else the definition's `scaling.min`, else
 * 1). `AGENT_INVALID` for something not made by `defineAgent` or a version
 * that is not semantic, `VALIDATION_FAILED` for a bad instance count.
 */
export function checkRegistration(definition: AnyAgentDefinition, options: RegisterOptions): number {
  if (!isAgentDefinition(definition)) {
    throw new FlotillaError(
      'AGENT_INVALID',
      'register() needs an agent definition made by defineAgent({ name, handler, ... }).',
    )
  }
  const { name, version } = definition
  if (parseSemver(version) === undefined) {
    throw new FlotillaError(
      'AGENT_INVALID',
      `Agent "${name}": version "${version}" is not a semantic version like 1.2.0.`,
      { details: { agent: name, version } },
    )
  }
  const count = options.instances ?? definition.scaling?.min ?? 1
  if (!instancesSchema.safeParse(count).success) {
    throw new FlotillaError(
      'VALIDATION_FAILED',
      `register("${name}"): instances must be a whole number from 1 to 10000, got ${String(count)}.`,
      {
        details: { agent: name, instances: String(count) },
      },
    )
  }
  return count
}

/**
 * Creates `count` instances of `definition` (indexes 0 to `count - 1`) and
 * starts them together. When one fails to start, every one is stopped and
 * its error (`AGENT_INIT_FAILED`) is thrown.
 */
export async function startInstances(
  definition: AnyAgentDefinition,
  count: number,
  options: Omit<AgentInstanceOptions, 'index'>,
): Promise<AgentInstance[]> {
  const instances: AgentInstance[] = []
  for (let i = 0; i < count; i++) instances.push(new AgentInstance(definition, { ...options, index: i }))
  const results = await Promise.allSettled(instances.map((inst) => inst.start()))
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (failure) {
    for (const inst of instances) inst.stop()
    throw failure.reason
  }
  return instances
}
