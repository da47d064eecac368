export function formatTotal(total) {  
  return total.toFixed(2)
}
