import { InProcessRuntime } from '../runtimes/inprocess/inprocess-runtime.js'
import { ProcessRuntime } from '../runtimes/process/process-runtime.js'
import type { Runtime } from '../runtimes/runtime.js'

/**
 * The runtimes an orchestrator deploys agents on unless told otherwise:
 * `process` (the spec's default: each agent a child process) and
 * `inprocess`. Child processes are started only when an agent is deployed.
 */
export function defaultRuntimes(): Runtime[] {
  return [new ProcessRuntime(), new InProcessRuntime()]
}
