// A REST API REQUEST authorizer that does what the AWS sample's Node authorizer does, written
// for certprop's drop-in test: the subject of the client certificate, as Node's X509Certificate
// prints it with its line breaks turned into commas, becomes principalId and
// context.clientCertSub, with an Allow policy for the method; no certificate → 'Unauthorized'.
import { X509Certificate } from 'node:crypto';

export async function handler(event) {
  const pem = event?.requestContext?.identity?.clientCert?.clientCertPem;
  if (!pem) {
    throw new Error('Unauthorized');
  }
  const subject = new X509Certificate(pem).subject.replaceAll('\n', ',');
  return {
    principalId: subject,
    policyDocument: {
      Version: '2012-10-17',
      Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: event.methodArn }],
    },
    context: { clientCertSub: subject },
  };
}
