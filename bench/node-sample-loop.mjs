// The AWS sample's logic in a warm loop, for `make bench`: the handler of tests/node (what the
// sample does: X509Certificate parse, subject with its line breaks turned into commas, an Allow
// policy) called on a REST API authorizer event per certificate under certs/, over and over.
//
//   node bench/node-sample-loop.mjs [WARMUP_SECONDS] [MEASURE_SECONDS]
//
// Prints one JSON object: the certificates used, how many handler calls were timed, the mean µs
// per certificate, and the µs of each certificate timed on its own (us_each). The certificates
// are the .pem files that X509Certificate accepts, as the core benchmark takes the ones that
// certprop's parse accepts.
import { readdirSync, readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { handler } from '../tests/node/aws-sample-authorizer.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const warmupSeconds = Number(process.argv[2] ?? 1);
const measureSeconds = Number(process.argv[3] ?? 2);

const certsDir = join(root, 'certs');
const names = readdirSync(certsDir).filter((name) => name.endsWith('.pem')).sort();
const events = [];
const used = [];
for (const name of names) {
  const pem = readFileSync(join(certsDir, name), 'utf8');
  try {
    new X509Certificate(pem);
  } catch {
    continue;
  }
  used.push(name);
  events.push({
    type: 'REQUEST',
    methodArn: 'arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/GET/anything',
    requestContext: { identity: { clientCert: { clientCertPem: pem } } },
  });
}

// One round = every certificate once, as one criterion iteration of the core benchmark.
async function round() {
  let length = 0;
  for (const event of events) {
    // The sample throws on a certificate without a subject (spiffe.pem): an error answer, as in Lambda.
    try {
      const result = await handler(event);
      length += result.principalId.length;
    } catch (error) {
      length += 1;
    }
  }
  return length;
}

async function runFor(seconds) {
  const end = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
  let rounds = 0;
  let sink = 0;
  const start = process.hrtime.bigint();
  let now = start;
  while (now < end) {
    sink += await round();
    rounds += 1;
    now = process.hrtime.bigint();
  }
  return { rounds, nanos: Number(now - start), sink };
}

await runFor(warmupSeconds);
const { rounds, nanos, sink } = await runFor(measureSeconds);
const calls = rounds * events.length;

// Then each certificate on its own, in a warm loop of a fifth of a second: the Node side of the
// core's parse_decide_each benchmark.
const perCertificate = {};
for (const [i, event] of events.entries()) {
  const end = process.hrtime.bigint() + 200_000_000n;
  let count = 0;
  const start = process.hrtime.bigint();
  let now = start;
  while (now < end) {
    try {
      await handler(event);
    } catch (error) {
      // as in round()
    }
    count += 1;
    now = process.hrtime.bigint();
  }
  perCertificate[used[i]] = Number(now - start) / 1e3 / count;
}
process.stdout.write(
  JSON.stringify({
    node: process.version,
    certificates: used,
    calls,
    us_per_certificate: nanos / 1e3 / calls,
    us_each: perCertificate,
    checksum: sink,
  }) + '\n',
);
