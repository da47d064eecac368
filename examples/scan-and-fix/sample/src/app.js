// A small module with indentation problems.
import { formatTotal } from './lib/strings.js'

export function summarize(items) {
  let total = 0
  for (const item of items) {
	total += item.price * item.quantity
  }
	return formatTotal(total)
}

export function describe(item) {
  // FIXME: prices can be negative after a refund.
	  const label = `${item.name} (${item.quantity} × ${item.price})`
  return `${label}: this line is deliberately far too long, so that the scanner reports it as over the limit`
}
