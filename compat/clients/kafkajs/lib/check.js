'use strict'
// A failed expectation: its message becomes the row's detail.
class CheckFailed extends Error {}

function check(condition, message) {
  if (!condition) throw new CheckFailed(message)
}

// kafkajs wraps broker errors (retries, aggregates): the Kafka error types anywhere in the chain.
function errorTypes(err, depth = 0) {
  if (!err || depth > 6) return []
  const out = []
  if (err.type) out.push(err.type)
  out.push(...errorTypes(err.cause, depth + 1), ...errorTypes(err.originalError, depth + 1))
  for (const e of err.errors || []) out.push(...errorTypes(e, depth + 1))
  return out
}

// Runs fn and returns the error it failed with, or null when it succeeded.
async function failure(fn) {
  try {
    await fn()
    return null
  } catch (err) {
    return err
  }
}

function show(err) {
  if (!err) return 'success'
  return `${err.name}: ${err.message} [${errorTypes(err).join(',')}]`
}

// Re-reads until probe() holds: Kafka propagates metadata after an admin call returns.
async function waitFor(what, probe, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs
  while (!(await probe())) {
    check(Date.now() < deadline, `not within ${timeoutMs / 1000} s: ${what}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

module.exports = { CheckFailed, check, errorTypes, failure, show, waitFor }
