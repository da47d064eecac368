import type { WorkflowSpec } from '../../src/workflows/spec.js'

/** A W4-style run: a → (b, c) → d → e, values summed along the edges. */
export function w4(seed: number): WorkflowSpec {
  return {
    name: 'w4',
    tasks: [
      { id: 'a', agent: 'step', input: { seed } },
      { id: 'b', agent: 'step', input: { xs: [{ $ref: 'tasks.a.output.v' }], seed: 1 } },
      { id: 'c', agent: 'step', input: { xs: [{ $ref: 'tasks.a.output.v' }], seed: 2 } },
      { id: 'd', agent: 'step', input: { xs: [{ $ref: 'tasks.b.output.v' }, { $ref: 'tasks.c.output.v' }], seed: 0 } },
      { id: 'e', agent: 'step', input: { xs: [{ $ref: 'tasks.d.output.v' }], seed: 1 } },
    ],
  } as WorkflowSpec
}

/** The `v` of every task of {@link w4}(seed). */
export function w4Expected(seed: number): Record<string, number> {
  const a = seed
  const b = a + 1
  const c = a + 2
  const d = b + c
  return { a, b, c, d, e: d + 1 }
}
