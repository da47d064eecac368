/**
 * Agents as processes: `flotilla/process`. The runtimes deployed agents run
 * in (a child process each, or this process), the agent runner they share,
 * the supervisor that keeps the tree of deployed agents, and workspaces. An
 * Orchestrator sets these up itself (`orchestrator.agents`); import them to
 * run them without one or to configure them.
 *
 * @example
 * ```ts
 * import { Orchestrator } from 'flotilla'
 * import { ProcessRuntime } from 'flotilla/process'
 *
 * const orchestrator = new Orchestrator({ store: 'memory', runtimes: [new ProcessRuntime({ forwardStderr: false })] })
 * ```
 *
 * @packageDocumentation
 */
export { ProcessRuntime } from './runtimes/process/process-runtime.js'
export type { ProcessRuntimeOptions } from './runtimes/process/process-runtime.js'
export { InProcessRuntime } from './runtimes/inprocess/inprocess-runtime.js'
export type { InProcessRuntimeOptions } from './runtimes/inprocess/inprocess-runtime.js'
export { AgentSupervisor } from './runtimes/supervisor.js'
export { canTransition } from './runtimes/lifecycle.js'
export { AgentRunner } from './agents/runner.js'
export type { AgentRunnerOptions, RunnerHooks, RunnerExecuteOptions } from './agents/runner.js'
export { FolderWorkspace } from './agents/workspace.js'
export type { FolderWorkspaceOptions } from './agents/workspace.js'
