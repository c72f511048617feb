// Sends events to vigil with Elastic's Node client (its bulk helper) or with pino-elasticsearch
// (a pino logger writing to it), configured as their users configure them, with an API key.
//
// usage: node send.mjs client|pino URL KEY LABEL COUNT
//
// Prints one JSON line: how many documents were sent and how many failed.
import { createRequire } from 'node:module'

const require = createRequire(process.cwd() + '/')
const [kind, url, key, label, countText] = process.argv.slice(2)
const count = Number(countText)

if (kind === 'client') {
  const { Client } = require('@elastic/elasticsearch')
  const client = new Client({ node: url, auth: { apiKey: key } })
  const documents = Array.from({ length: count }, (_, i) => ({
    '@timestamp': '2026-03-02T08:00:00Z',
    event: { id: `${label}-${i}`, action: 'client-test' },
    message: `event ${i} from ${label}`
  }))
  const result = await client.helpers.bulk({
    datasource: documents,
    onDocument: () => ({ index: { _index: 'logs-clients.test-default' } })
  })
  console.log(JSON.stringify({ client: kind, sent: result.successful, failed: result.failed }))
} else {
  const pino = require('pino')
  const pinoElastic = require('pino-elasticsearch')
  const stream = pinoElastic({ index: 'logs-pino.test-default', node: url, auth: { apiKey: key }, flushBytes: 100000 })
  let failed = 0
  stream.on('insertError', () => { failed += 1 })
  stream.on('error', () => { failed += 1 })
  const logger = pino({ level: 'info' }, stream)
  for (let i = 0; i < count; i++) {
    logger.info({ event: { id: `${label}-${i}` } }, `event ${i} from ${label}`)
  }
  stream.end()
  await new Promise((resolve) => stream.on('finish', resolve))
  // The bulk helper flushes its last batch after the stream ends.
  await new Promise((resolve) => setTimeout(resolve, 2000))
  console.log(JSON.stringify({ client: kind, sent: count - failed, failed }))
}
