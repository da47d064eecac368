/**
 * The predefined workflows (templates) an {@link Orchestrator} runs by name:
 * registered from code, or discovered with agents from folders.
 *
 * @module
 */
import { FlotillaError } from '../core/errors.js'
import type { Registry } from '../registry/registry.js'
import { discoverAgents, type AgentDiscoveryReport } from '../registry/discovery/discover-agents.js'
import { compileWorkflow, type Workflow } from '../workflows/compile.js'
import { discoverWorkflows, type WorkflowDiscoveryReport } from '../workflows/discovery.js'
import type { WorkflowSpec } from '../workflows/spec.js'

/** Where {@link WorkflowTemplates.discover} looks (see `Orchestrator.discover`). */
export interface DiscoverOptions {
  agents?: string
  workflows?: string
  agentPattern?: string
  workflowPattern?: string
}

/** What {@link WorkflowTemplates.discover} loaded and what failed. */
export interface DiscoveryReport {
  agents?: AgentDiscoveryReport
  workflows?: WorkflowDiscoveryReport
}

/** Registered workflow templates by name. */
export class WorkflowTemplates {
  private readonly byName = new Map<string, Workflow>()

  /** See `Orchestrator.registerTemplate`. */
  register(name: string, workflow: Workflow | WorkflowSpec, options: { replace?: boolean } = {}): void {
    const wf = 'hash' in workflow ? workflow : compileWorkflow(workflow)
    const existing = this.byName.get(name)
    if (existing !== undefined && existing.hash !== wf.hash && options.replace !== true) {
      throw new FlotillaError(
        'VALIDATION_FAILED',
        `A different workflow is already registered as template "${name}"; pass { replace: true } to replace it, or choose another name.`,
        { details: { template: name } },
      )
    }
    this.byName.set(name, wf)
  }

  /** Names of the registered templates. */
  names(): string[] {
    return [...this.byName.keys()]
  }

  /** The registered workflows. */
  workflows(): IterableIterator<Workflow> {
    return this.byName.values()
  }

  /** The template registered as `name`, or `TEMPLATE_NOT_FOUND` naming those there are. */
  get(name: string): Workflow {
    const wf = this.byName.get(name)
    if (wf === undefined) {
      throw new FlotillaError(
        'TEMPLATE_NOT_FOUND',
        `No workflow template "${name}". Registered: ${this.names().join(', ') || '(none)'}.`,
        { details: { template: name } },
      )
    }
    return wf
  }

  /** See `Orchestrator.discover`: agents go into `registry`, workflows are registered here (replacing). */
  async discover(registry: Registry, options: DiscoverOptions): Promise<DiscoveryReport> {
    const report: DiscoveryReport = {}
    if (options.agents !== undefined)
      report.agents = await discoverAgents(
        registry,
        options.agents,
        options.agentPattern ? { pattern: options.agentPattern } : {},
      )
    if (options.workflows !== undefined) {
      report.workflows = await discoverWorkflows(
        options.workflows,
        options.workflowPattern ? { pattern: options.workflowPattern } : {},
      )
      for (const { workflow } of report.workflows.loaded) this.register(workflow.name, workflow, { replace: true })
    }
    return report
  }
}
