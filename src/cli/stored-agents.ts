import { isAbsolute, resolve } from 'node:path'
import { FlotillaError, isFlotillaError } from '../core/errors.js'
import type { Orchestrator } from '../orchestrator/orchestrator.js'
import type { RunRecord } from '../store/records.js'
import { compileWorkflow, type Workflow } from '../workflows/compile.js'
import type { WorkflowSpec } from '../workflows/spec.js'
import { importAgents, type LoadedAgents } from './agents-module.js'

/** Where the agents of stored runs come from: `--agents` and `--workflow-dir`. */
export interface AgentSource {
  /** Modules given with `--agents` (relative to the working folder): used for every run instead of the one its definition names. */
  agents: readonly string[]
  /** `--workflow-dir`: the folder a relative `agents` path of a stored definition is resolved against. @default the working folder */
  workflowDir: string | undefined
}

/** The help lines of `--agents` and `--workflow-dir`. */
export const AGENT_SOURCE_HELP = `      --agents MODULE     The agents module to load instead of the one the run's
                          stored workflow names; repeat for several
      --workflow-dir DIR  Folder that a relative "agents:" path of the stored
                          workflow is resolved against (default: here)`

/** The paragraph of help that says how stored runs find their agents. */
export const AGENT_SOURCE_NOTE = `Agents: a run pins its workflow definition, whose "agents:" field names the
module of its agents. "flotilla run" stores that path absolute, so the run
finds its agents from any folder; a relative path (a run started from code)
is resolved against --workflow-dir, else the current folder. --agents
names the module explicitly (after a move, or for runs started from code).`

/**
 * Registers, on one orchestrator, the agents that stored runs need: each
 * run's agents module (see {@link AgentSource}) is imported once, its agents
 * registered once, and the run's pinned workflow is checked to be routable.
 * Errors name the run and say what to pass.
 *
 * @example
 * ```ts
 * const agents = new StoredRunAgents(orchestrator, { agents: [], workflowDir: undefined })
 * const workflow = await agents.prepare(await orchestrator.getRun(id))
 * ```
 */
export class StoredRunAgents {
  private readonly modules = new Map<string, Promise<LoadedAgents>>()
  /** `name@version` → the module it was registered from. */
  private readonly origin = new Map<string, string>()

  constructor(
    private readonly orchestrator: Orchestrator,
    private readonly source: AgentSource,
    private readonly cwd = process.cwd(),
  ) {}

  /**
   * Loads and registers the agents of `record` and checks that `workflow`
   * (default: the run's pinned definition) can be routed; returns that
   * workflow. Throws `FILE_NOT_FOUND`, `MODULE_LOAD_FAILED`,
   * `AGENT_DUPLICATE` or `WORKFLOW_UNKNOWN_AGENT` with what to pass.
   */
  async prepare(record: RunRecord, workflow?: Workflow): Promise<Workflow> {
    const wf = workflow ?? compileWorkflow(record.definition as WorkflowSpec)
    const paths: string[] = []
    for (const { path, missing } of this.modulesFor(record)) {
      const loaded = await this.load(path, missing)
      paths.push(loaded.path)
      for (const t of loaded.templates)
        if (this.orchestrator.registry.templates.get(t.name, t.version) === undefined)
          this.orchestrator.registry.templates.register(t)
      for (const def of loaded.definitions) {
        const key = `${def.name}@${def.version}`
        const existing = this.orchestrator.registry.getDefinition(def.name, def.version)
        if (existing === def) continue
        if (existing !== undefined) {
          throw new FlotillaError(
            'AGENT_DUPLICATE',
            `Run ${record.id}: agent "${key}" is defined both by ${this.origin.get(key) ?? 'another module'} and by ${loaded.path}. Resume or replay this run on its own ("flotilla runs resume ${record.id}"), or name one module with --agents.`,
            {
              details: { runId: record.id, agent: key, module: loaded.path },
            },
          )
        }
        await this.orchestrator.register(def)
        this.origin.set(key, loaded.path)
      }
    }
    try {
      this.orchestrator.validate(wf)
    } catch (e) {
      if (isFlotillaError(e) && e.code === 'WORKFLOW_UNKNOWN_AGENT') {
        const from = this.source.agents.length > 0 ? 'given with --agents' : 'its workflow names'
        throw new FlotillaError(
          e.code,
          `Run ${record.id} (workflow "${wf.name}"): ${e.message} The agents module ${from} (${paths.join(', ')}) does not define it: name the right module with --agents.`,
          {
            details: { ...e.details, runId: record.id },
            cause: e,
          },
        )
      }
      throw e
    }
    return wf
  }

  private load(path: string, missing: () => FlotillaError): Promise<LoadedAgents> {
    let loading = this.modules.get(path)
    if (loading === undefined) {
      loading = importAgents(path, missing)
      this.modules.set(path, loading)
    }
    return loading
  }

  private modulesFor(record: RunRecord): { path: string; missing: () => FlotillaError }[] {
    const run = `Run ${record.id} (workflow "${record.workflow}")`
    if (this.source.agents.length > 0) {
      return this.source.agents.map((given) => {
        const path = resolve(this.cwd, given)
        return {
          path,
          missing: () =>
            new FlotillaError(
              'FILE_NOT_FOUND',
              `The agents module "${given}" given with --agents does not exist (looked for ${path}).`,
              { details: { module: path } },
            ),
        }
      })
    }
    const specifier = (record.definition as Partial<WorkflowSpec> | undefined)?.agents
    if (specifier === undefined) {
      throw new FlotillaError(
        'WORKFLOW_UNKNOWN_AGENT',
        `${run} names no agents module, so its agents cannot be found. Pass --agents <module>: a module exporting the defineAgent(...) results its tasks use.`,
        {
          details: { runId: record.id },
        },
      )
    }
    if (isAbsolute(specifier)) {
      return [
        {
          path: specifier,
          missing: () =>
            new FlotillaError(
              'FILE_NOT_FOUND',
              `${run} was started with the agents module ${specifier}, which no longer exists. Pass --agents <module> to name the module that defines its agents now.`,
              {
                details: { runId: record.id, module: specifier },
              },
            ),
        },
      ]
    }
    const base = this.source.workflowDir === undefined ? this.cwd : resolve(this.cwd, this.source.workflowDir)
    const path = resolve(base, specifier)
    const hint =
      this.source.workflowDir === undefined
        ? 'Pass --workflow-dir <folder of its workflow file>, or --agents <module>.'
        : 'Check --workflow-dir, or pass --agents <module>.'
    return [
      {
        path,
        missing: () =>
          new FlotillaError(
            'FILE_NOT_FOUND',
            `${run} names the agents module "${specifier}", relative to its workflow file; it is not at ${path}. ${hint}`,
            {
              details: { runId: record.id, module: path },
            },
          ),
      },
    ]
  }
}
