import { FlotillaError } from '../core/errors.js'
import { closestName } from '../workflows/spec.js'
import type { Workflow } from '../workflows/compile.js'
import { discoverWorkflows } from '../workflows/discovery.js'

/**
 * The named workflows an HTTP API can list and start (its templates): added
 * in code, or discovered from a folder of workflow files. A workflow given
 * inline in a start request needs no entry here.
 */
export class WorkflowCatalog {
  private readonly byName = new Map<string, Workflow>()

  /** Adds a compiled workflow under its name; another workflow under a taken name needs `replace`. */
  add(workflow: Workflow, options: { replace?: boolean } = {}): void {
    const taken = this.byName.get(workflow.name)
    if (taken !== undefined && taken.hash !== workflow.hash && options.replace !== true)
      throw new FlotillaError(
        'VALIDATION_FAILED',
        `A different workflow named "${workflow.name}" is in the catalog; pass { replace: true } to replace it.`,
        { details: { workflow: workflow.name } },
      )
    this.byName.set(workflow.name, workflow)
  }

  /** Loads every workflow file under `folder` (see `discoverWorkflows`); returns the names loaded and the failures. */
  async discover(folder: string): Promise<{ loaded: string[]; failed: { path: string; message: string }[] }> {
    const report = await discoverWorkflows(folder)
    for (const { workflow } of report.loaded) this.add(workflow, { replace: true })
    return {
      loaded: report.loaded.map((l) => l.workflow.name),
      failed: report.failed.map((f) => ({ path: f.file, message: f.message })),
    }
  }

  /** Every workflow, by name. */
  list(): Workflow[] {
    return [...this.byName.values()].sort((a, b) => a.name.localeCompare(b.name))
  }

  /** The workflow of that name, or `TEMPLATE_NOT_FOUND` with the closest name. */
  get(name: string): Workflow {
    const wf = this.byName.get(name)
    if (wf !== undefined) return wf
    const near = closestName(name, this.byName.keys())
    throw new FlotillaError(
      'TEMPLATE_NOT_FOUND',
      `No workflow "${name}" in the catalog.${near === undefined ? '' : ` Did you mean "${near}"?`}`,
      { details: { workflow: name, ...(near === undefined ? {} : { suggestion: near }) } },
    )
  }
}
