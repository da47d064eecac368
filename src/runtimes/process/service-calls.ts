/**
 * The parent's side of a ctx service call made by an agent process: the
 * call goes to the owner of the process, and its value or error goes back
 * to the child (as an `INTERNAL` error when the value cannot be sent as
 * JSON).
 */
import { FlotillaError, serializeError } from '../../core/errors.js'
import { encodeValue, type ParentMessage } from './protocol.js'

/**
 * Serves the call `id` of the child (`op` with `args`) through `call` and
 * sends the reply with `send`; a call that throws is answered as one that
 * rejects.
 */
export function answerServiceCall(
  call: (op: string, args: unknown) => Promise<unknown>,
  send: (message: ParentMessage) => void,
  id: number,
  op: string,
  args: unknown,
): void {
  let reply: Promise<unknown>
  try {
    reply = call(op, args)
  } catch (e) {
    reply = Promise.reject(e)
  }
  const answer = (m: ParentMessage): void => {
    try {
      send(m)
    } catch (e) {
      send({
        type: 'call-error',
        id,
        error: serializeError(
          new FlotillaError(
            'INTERNAL',
            `The reply to ctx service "${op}" cannot be sent to the agent process as JSON: ${(e as Error).message}`,
          ),
        ),
      })
    }
  }
  reply
    .then(
      (value) => answer({ type: 'call-result', id, value: encodeValue(value) }),
      (e: unknown) => answer({ type: 'call-error', id, error: serializeError(e) }),
    )
    .catch(() => undefined)
}
