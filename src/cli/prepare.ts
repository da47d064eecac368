import { FlotillaError, isFlotillaError } from '../core/errors.js'
import type { Tracer } from '../telemetry/telemetry.js'
import { Orchestrator } from '../orchestrator/orchestrator.js'
import { openBackend, type Backend } from '../orchestrator/backend.js'
import { loadWorkflowFile } from '../workflows/load.js'
import { compileWorkflow, type Workflow } from '../workflows/compile.js'
import { loadAgentsModule } from './agents-module.js'

/** A compiled workflow with its agents registered on a fresh orchestrator. */
export interface PreparedWorkflow {
  file: string
  /**
   * The workflow, its `agents` field made absolute: a run stores this
   * definition, so recovering it later finds the module from any folder.
   */
  workflow: Workflow
  orchestrator: Orchestrator
  /** Absolute path of the agents module, when the workflow names one. */
  agentsModule: string | undefined
  /** Names (`name@version`) of the registered agents. */
  agents: string[]
}

/** Options of {@link prepareWorkflow}. */
export interface PrepareOptions {
  /** When false, a workflow without an agents module is returned without checking its agents. @default true */
  requireAgents?: boolean
  /**
   * Opens the backend of the orchestrator; called once the workflow file and
   * its agents module have loaded, so a bad file leaves no store behind.
   * @default the memory backend
   */
  openBackend?: () => Promise<Backend>
  /** Traces the runs (OTLP export of `flotilla run`). @default none */
  tracer?: Tracer
}

/**
 * Loads a workflow file, imports the agents module it names, registers
 * every agent on a new {@link Orchestrator} and checks that every task can
 * be routed (`WORKFLOW_UNKNOWN_AGENT` otherwise). The caller closes the
 * orchestrator.
 *
 * @example
 * ```ts
 * const { workflow, orchestrator } = await prepareWorkflow('examples/scan-and-fix/workflow.yaml')
 * ```
 */
export async function prepareWorkflow(file: string, options: PrepareOptions = {}): Promise<PreparedWorkflow> {
  let workflow = await loadWorkflowFile(file)
  const specifier = workflow.spec.agents
  const loaded = specifier === undefined ? undefined : await loadAgentsModule(file, specifier)
  if (loaded !== undefined && loaded.path !== specifier)
    workflow = compileWorkflow({ ...workflow.spec, agents: loaded.path })
  const backend = await (options.openBackend ?? (() => openBackend('memory')))()
  let orchestrator: Orchestrator
  try {
    orchestrator = new Orchestrator({
      backend,
      ...(options.tracer === undefined ? {} : { telemetry: { tracer: options.tracer } }),
    })
  } catch (e) {
    await backend.close()
    throw e
  }
  try {
    const agentsModule = loaded?.path
    const agents: string[] = []
    for (const template of loaded?.templates ?? []) await orchestrator.register(template)
    for (const def of loaded?.definitions ?? []) {
      await orchestrator.register(def)
      agents.push(`${def.name}@${def.version}`)
    }
    if (specifier === undefined && options.requireAgents === false)
      return { file, workflow, orchestrator, agentsModule, agents }
    try {
      orchestrator.validate(workflow)
    } catch (e) {
      if (isFlotillaError(e) && e.code === 'WORKFLOW_UNKNOWN_AGENT') {
        const hint =
          specifier === undefined
            ? ` ${file} names no agents module: add "agents: ./agents.mjs" (a module exporting defineAgent(...) results).`
            : ` Registered from ${specifier}: ${agents.join(', ')}.`
        throw new FlotillaError(e.code, `${file}: ${e.message}${hint}`, { details: { ...e.details, file }, cause: e })
      }
      throw e
    }
    return { file, workflow, orchestrator, agentsModule, agents }
  } catch (e) {
    await orchestrator.close()
    throw e
  }
}
