// Evaluates flags through OpenFeature's own JavaScript OFREP providers:
// the server SDK's OFREPProvider (one request per evaluation) and the web
// SDK's OFREPWebProvider (one bulk request per context). Reads a JSON file
// {"baseUrl", "headers"?, "cases": [{"name", "flag", "type", "default",
// "context"}]} and prints {"server": [...], "web": [...]}, one result per
// case: {"value", "variant", "reason", "errorCode"}.
import { readFileSync } from 'node:fs';
import { OpenFeature as ServerFeature } from '@openfeature/server-sdk';
import { OFREPProvider } from '@openfeature/ofrep-provider';
import { OpenFeature as WebFeature } from '@openfeature/web-sdk';
import { OFREPWebProvider } from '@openfeature/ofrep-web-provider';

const input = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const headers = input.headers ?? {};

function pick(d) {
  return { value: d.value ?? null, variant: d.variant ?? '', reason: d.reason ?? '', errorCode: d.errorCode ?? '' };
}

async function details(client, c, ctx) {
  switch (c.type) {
    case 'boolean': return client.getBooleanDetails(c.flag, c.default, ctx);
    case 'string': return client.getStringDetails(c.flag, c.default, ctx);
    case 'number': return client.getNumberDetails(c.flag, c.default, ctx);
    default: return client.getObjectDetails(c.flag, c.default, ctx);
  }
}

await ServerFeature.setProviderAndWait(new OFREPProvider({ baseUrl: input.baseUrl, headers: Object.entries(headers) }));
const server = ServerFeature.getClient();
const serverResults = [];
for (const c of input.cases) {
  serverResults.push(pick(await details(server, c, c.context)));
}

const webResults = [];
const web = new OFREPWebProvider({ baseUrl: input.baseUrl, headers: Object.entries(headers), changeDetection: 'none', cacheMode: 'disabled' });
let first = true;
for (const c of input.cases) {
  if (first) {
    await WebFeature.setContext(c.context);
    await WebFeature.setProviderAndWait(web);
    first = false;
  } else {
    await WebFeature.setContext(c.context);
  }
  // The web SDK evaluates synchronously from the bulk answer for the context.
  const d = await details(WebFeature.getClient(), c, undefined);
  webResults.push(pick(d));
}
await WebFeature.close();
await ServerFeature.close();
process.stdout.write(JSON.stringify({ server: serverResults, web: webResults }) + '\n');
