'use strict'
// The kafkajs row of the compatibility matrix: runs each scenario of compat/scenarios.txt that
// kafkajs supports and prints one JSON result line per scenario on stdout (logs on stderr).
//   node run.js --bootstrap HOST:PORT[,HOST:PORT...] --prefix PREFIX [--previous-prefix P] [--only ID,ID...]
// Exits 0 when it ran, whatever the scenarios said.
const { Clients } = require('./lib/clients')
const { CheckFailed, show } = require('./lib/check')
const records = require('./lib/records')
const compression = require('./lib/compression')
const groups = require('./lib/groups')
const admin = require('./lib/admin')
const errors = require('./lib/errors')

// The contract bounds each scenario at 60 s; a scenario past it is reported and abandoned.
const SCENARIO_TIMEOUT_MS = 60000

const SCENARIOS = [
  ['metadata', records.metadata],
  ['produce_consume', records.produceConsume],
  ['headers', records.headers],
  ['null_and_empty_values', records.nullAndEmptyValues],
  ['value_1mib', records.value1Mib],
  ...Object.keys(compression.CODECS).map(codec => [`compression_${codec}`, c => compression.run(c, codec)]),
  ['partitioner_murmur2', records.partitionerMurmur2],
  ['consumer_group', groups.consumerGroup],
  ['commit_and_resume', groups.commitAndResume],
  ['seek', groups.seek],
  ['idempotent_producer', records.idempotentProducer],
  ['transactions', records.transactions],
  ['admin_topics', admin.topics],
  ['admin_configs', admin.configs],
  ['admin_groups', admin.groups],
  ['admin_delete_records', admin.deleteRecords],
  ['error_unknown_topic', errors.unknownTopic],
  ['error_record_too_large', errors.recordTooLarge],
  ['error_invalid_topic_name', errors.invalidTopicName],
  ['error_topic_exists', errors.topicExists],
]

function parseArgs(argv) {
  const args = {}
  const names = { '--bootstrap': 'bootstrap', '--prefix': 'prefix', '--previous-prefix': 'previousPrefix', '--only': 'only' }
  for (let i = 0; i < argv.length; i += 2) {
    if (!names[argv[i]] || i + 1 >= argv.length) throw new Error(`bad argument ${argv[i]}`)
    args[names[argv[i]]] = argv[i + 1]
  }
  if (!args.bootstrap || !args.prefix) throw new Error('--bootstrap and --prefix are required')
  return args
}

async function runBounded(id, scenario, c) {
  let timer
  const timeout = new Promise(resolve => {
    timer = setTimeout(() => resolve({ status: 'fail', detail: `timed out after ${SCENARIO_TIMEOUT_MS / 1000} s` }), SCENARIO_TIMEOUT_MS)
  })
  const attempt = (async () => {
    try {
      const out = await scenario(c)
      return typeof out === 'string' ? { status: 'pass', detail: out } : out
    } catch (err) {
      if (!(err instanceof CheckFailed)) process.stderr.write(`${id}: ${err.stack}\n`)
      return { status: 'fail', detail: err instanceof CheckFailed ? err.message : show(err) }
    }
  })()
  try {
    return await Promise.race([attempt, timeout])
  } finally {
    clearTimeout(timer)
  }
}

async function main() {
  let args
  try {
    args = parseArgs(process.argv.slice(2))
  } catch (err) {
    process.stderr.write(`usage: run --bootstrap HOST:PORT[,HOST:PORT...] --prefix PREFIX [--previous-prefix P]: ${err.message}\n`)
    process.exit(2)
  }
  const c = new Clients(args)
  const only = args.only ? new Set(args.only.split(',')) : null
  for (const [id, scenario] of SCENARIOS) {
    if (only && !only.has(id)) continue
    process.stderr.write(`== ${id}\n`)
    const started = Date.now()
    const { status, detail } = await runBounded(id, scenario, c)
    process.stderr.write(`== ${id}: ${status} in ${Date.now() - started} ms: ${detail}\n`)
    process.stdout.write(JSON.stringify({ scenario: id, status, detail: String(detail).slice(0, 300) }) + '\n')
  }
  // Abandoned scenarios may hold sockets open; the results are out.
  process.exit(0)
}

main().catch(err => {
  process.stderr.write(`${err.stack}\n`)
  process.exit(1)
})
