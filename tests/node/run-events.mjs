// Reads a JSON array of authorizer events on stdin, runs aws-sample-authorizer.mjs on each and
// prints a JSON array with, per event, {"response": …} or {"error": "<message>"}.
import { handler } from './aws-sample-authorizer.mjs';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const events = JSON.parse(Buffer.concat(chunks).toString('utf8'));
const results = [];
for (const event of events) {
  try {
    results.push({ response: await handler(event) });
  } catch (error) {
    results.push({ error: String(error?.message ?? error) });
  }
}
process.stdout.write(JSON.stringify(results));
