/**
 * Something an agent reports from its side while it runs: a log line,
 * progress, a denied permission, a tool call. Runtimes forward these to the
 * supervisor unchanged (they are the runtime port's `RuntimeEvent`s).
 */
export interface AgentEvent {
  /** `log`, `progress`, `permission.denied`, `tool.called` or `custom`. */
  readonly type: string
  /** JSON-safe facts about it. */
  readonly data: Readonly<Record<string, unknown>>
}

/** Receives the {@link AgentEvent}s of one agent. */
export type AgentEventSink = (event: AgentEvent) => void

/**
 * The `permission.denied` event for `action` on `resource`.
 *
 * @example
 * ```ts
 * onEvent(deniedEvent('scanner', 'file:../etc/passwd', 'read', 'outside the workspace'))
 * ```
 */
export function deniedEvent(agent: string, resource: string, action: string, reason: string): AgentEvent {
  return { type: 'permission.denied', data: { agent, resource, action, reason } }
}
