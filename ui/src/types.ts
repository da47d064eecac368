/** What the API answers, as the dashboard reads it (see docs/api.md and schema/openapi.json). */

export type RunState = 'PENDING' | 'RUNNING' | 'PAUSED' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED'
export type TaskState = 'PENDING' | 'READY' | 'RUNNING' | 'RETRYING' | 'SUCCEEDED' | 'FAILED' | 'SKIPPED' | 'CANCELLED'

export interface SerializedError {
  code: string
  message: string
  retryable?: boolean
  details?: Record<string, unknown>
}

export interface Run {
  id: string
  workflow: string
  state: RunState
  input: unknown
  createdAt: number
  startedAt: number | null
  finishedAt: number | null
  error: SerializedError | null
  parentRunId: string | null
}

export interface ModelSpend {
  calls: number
  replayed: number
  inputTokens: number
  outputTokens: number
  reasoningTokens: number
  cachedInputTokens: number
  costUsd: number
}

export interface Task {
  taskId: string
  state: TaskState
  attempt: number
  agent: string | null
  priority: string
  startedAt: number | null
  finishedAt: number | null
  output: unknown
  error: SerializedError | null
  model: ModelSpend | null
}

export interface GraphTask {
  taskId: string
  agent: string | null
  capability: string | null
  dependsOn: string[]
  priority: string
  input: unknown
  when: string | null
  maxAttempts: number
}

/** A run event as the live stream sends it (only the fields the dashboard reads). */
export interface RunEvent {
  type: string
  runId: string
  at: number
  actor?: string
  taskId?: string
  attempt?: number
  agent?: string
  error?: SerializedError
  durationMs?: number
  delayMs?: number
  reason?: string
  level?: string
  message?: string
  data?: unknown
  progress?: { total: number; done: number; percent: number; elapsedMs: number; etaMs?: number }
  model?: string
  usage?: { inputTokens: number; outputTokens: number; reasoningTokens: number; cachedInputTokens: number }
  costUsd?: number
  finishReason?: string
  replayed?: boolean
  answer?: (
    | { type: 'text' | 'reasoning'; text: string }
    | { type: 'tool-call'; callId: string; tool: string; input: string }
  )[]
  fraction?: number
  note?: string
  /** `run.started`: the run's debug options. */
  debug?: boolean
  breakOnError?: boolean
}

export interface Whoami {
  key: string
  name: string
  role: string
  allowed: boolean | null
}

export interface Alert {
  id: string
  rule: string
  severity: 'warning' | 'critical'
  state: 'raised' | 'resolved'
  message: string
  subject: { agent?: string; run?: string }
  value: number
  threshold: number
  raisedAt: number
  resolvedAt?: number
}
