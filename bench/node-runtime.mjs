// A minimal Lambda runtime loop for Node around the AWS sample's handler (tests/node), so that
// `make bench` can time Node's start under the same local Runtime API as certprop-authorizer:
// GET /2018-06-01/runtime/invocation/next (long poll), call the handler, POST its result to
// …/{id}/response or its error to …/{id}/error, forever. Reads AWS_LAMBDA_RUNTIME_API.
import http from 'node:http';
import { handler } from '../tests/node/aws-sample-authorizer.mjs';

const api = process.env.AWS_LAMBDA_RUNTIME_API;
const [host, port] = api.split(':');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function request(method, path, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host, port: Number(port), method, path: `/2018-06-01/runtime/${path}`, agent, headers },
      (res) => {
        const chunks = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (body !== undefined) {
      req.setHeader('content-type', 'application/json');
      req.setHeader('content-length', Buffer.byteLength(body));
      req.end(body);
    } else {
      req.end();
    }
  });
}

for (;;) {
  const next = await request('GET', 'invocation/next');
  const id = next.headers['lambda-runtime-aws-request-id'];
  try {
    const result = await handler(JSON.parse(next.body));
    await request('POST', `invocation/${id}/response`, JSON.stringify(result));
  } catch (error) {
    const body = JSON.stringify({ errorType: error?.name ?? 'Error', errorMessage: String(error?.message ?? error) });
    await request('POST', `invocation/${id}/error`, body, { 'lambda-runtime-function-error-type': 'Unhandled' });
  }
}
