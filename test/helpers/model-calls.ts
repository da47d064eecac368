/** What a model was sent back as the results of its tool calls, in one call's prompt (scripted model `calls`). */
export function toolResults(call: { prompt: readonly { role: string; content: unknown }[] }): unknown[] {
  return call.prompt
    .filter((m) => m.role === 'tool')
    .flatMap((m) => (m.content as { output: { value: unknown } }[]).map((p) => p.output.value))
}
