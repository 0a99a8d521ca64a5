// Peer client for the comparison harness: the official Node SDK (@hubspot/api-client),
// used the way its README shows: `crm.tickets.batchApi.upsert({ inputs })`, batches of
// 100, N async workers sharing one Client, the SDK's own retries on
// (`numberOfApiCallRetries`), and optionally its Bottleneck limiter with the SDK's
// `DEFAULT_LIMITER_OPTIONS`.
//
// Reads the harness's JSONL file (one flat object per line: the id property plus the
// other string properties), streams it (never holds the whole file), and prints one JSON
// line on stdout: {"client":"node",records,sent,requests,status_429,failures,...}.
//
// Usage: node node_upsert.mjs --sdk-dir DIR --base-url URL --id-property NAME
//          [--concurrency 4] [--batch-size 100] [--retries 6] [--limiter none|default]
//          [--token-env HUBSPOT_ACCESS_TOKEN] FILE
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { createRequire } from 'node:module';
import path from 'node:path';

function parseArgs(argv) {
  const opts = {
    sdkDir: null, baseUrl: null, idProperty: 'external_ticket_id', concurrency: 4,
    batchSize: 100, retries: 6, limiter: 'none', tokenEnv: 'HUBSPOT_ACCESS_TOKEN',
    file: null,
  };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--sdk-dir': opts.sdkDir = val(); break;
      case '--base-url': opts.baseUrl = val(); break;
      case '--id-property': opts.idProperty = val(); break;
      case '--concurrency': opts.concurrency = Number(val()); break;
      case '--batch-size': opts.batchSize = Number(val()); break;
      case '--retries': opts.retries = Number(val()); break;
      case '--limiter': opts.limiter = val(); break;
      case '--token-env': opts.tokenEnv = val(); break;
      default:
        if (a.startsWith('--')) throw new Error(`unknown option ${a}`);
        opts.file = a;
    }
  }
  if (!opts.sdkDir || !opts.baseUrl || !opts.file) {
    throw new Error('usage: node_upsert.mjs --sdk-dir DIR --base-url URL [options] FILE');
  }
  if (!['none', 'default'].includes(opts.limiter)) throw new Error('--limiter none|default');
  return opts;
}

const opts = parseArgs(process.argv);
// The SDK is installed in the harness's ignored peers folder, not next to this script.
const require = createRequire(path.join(path.resolve(opts.sdkDir), 'package.json'));
const hubspot = require('@hubspot/api-client');

const token = process.env[opts.tokenEnv];
if (!token) throw new Error(`${opts.tokenEnv} is not set`);

const counters = { requests: 0, status_429: 0, status_5xx: 0, other_errors: 0 };
const config = {
  accessToken: token,
  basePath: opts.baseUrl, // every generated API honours basePath (ApiClientConfigurator.getBaseServer)
  numberOfApiCallRetries: opts.retries,
  // Counting only: the post hook sees every HTTP answer, retries included.
  middleware: [{
    pre: (ctx) => ctx,
    post: (ctx) => {
      counters.requests += 1;
      const s = ctx.httpStatusCode;
      if (s === 429) counters.status_429 += 1;
      else if (s >= 500) counters.status_5xx += 1;
      return ctx;
    },
  }],
};
if (opts.limiter === 'default') config.limiterOptions = hubspot.DEFAULT_LIMITER_OPTIONS;
const client = new hubspot.Client(config);
const batchApi = client.crm.tickets.batchApi;

// One shared reader; workers take whole batches from it in turn.
const rl = createInterface({ input: createReadStream(opts.file), crlfDelay: Infinity });
const lines = rl[Symbol.asyncIterator]();
let chain = Promise.resolve();
let records = 0;
async function readBatch() {
  const inputs = [];
  while (inputs.length < opts.batchSize) {
    const { value, done } = await lines.next();
    if (done) break;
    if (!value.trim()) continue;
    const row = JSON.parse(value);
    // Same payload as this project's CLI: the id goes in `id`, the other columns in
    // `properties` (values already strings in the harness's data).
    const properties = {};
    let id = null;
    for (const [k, v] of Object.entries(row)) {
      if (k === opts.idProperty) id = String(v);
      else properties[k] = v == null ? '' : String(v);
    }
    inputs.push({ idProperty: opts.idProperty, id, properties });
  }
  records += inputs.length;
  return inputs;
}
function nextBatch() {
  const p = chain.then(readBatch);
  chain = p.catch(() => {});
  return p;
}

const result = { sent: 0, created: 0, updated: 0, batch_errors: 0, failures: 0, failed_records: 0 };
const errorSamples = [];
async function worker() {
  for (;;) {
    const inputs = await nextBatch();
    if (inputs.length === 0) return;
    result.sent += inputs.length;
    try {
      const res = await batchApi.upsert({ inputs });
      for (const r of res.results ?? []) {
        if (r._new ?? r['new']) result.created += 1; else result.updated += 1;
      }
      const nerr = res.numErrors ?? (res.errors ? res.errors.length : 0);
      if (nerr) result.failed_records += nerr;
    } catch (err) {
      result.failures += 1;
      result.failed_records += inputs.length;
      if (errorSamples.length < 3) errorSamples.push(`${err?.code ?? ''} ${String(err?.message ?? err).slice(0, 200)}`);
    }
  }
}

const t0 = process.hrtime.bigint();
await Promise.all(Array.from({ length: opts.concurrency }, worker));
const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
process.stdout.write(JSON.stringify({
  client: 'node',
  sdk: `@hubspot/api-client ${require('@hubspot/api-client/package.json').version}`,
  records,
  ...result,
  ...counters,
  concurrency: opts.concurrency,
  retries: opts.retries,
  limiter: opts.limiter,
  elapsed_s: elapsed,
  error_samples: errorSamples,
}) + '\n');
