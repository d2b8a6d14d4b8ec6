// Follows an OFREP server with OpenFeature's web provider and its
// event-stream (SSE) change detection, printing one JSON line per event:
// {"event": "ready"} once, then {"event": "changed", "at": <Unix ms>,
// "flags": [...]} on every PROVIDER_CONFIGURATION_CHANGED. Arguments: the
// base URL and the evaluation context as JSON. Ends when stdin closes.
import { EventSource } from 'eventsource';
import { OpenFeature, ProviderEvents } from '@openfeature/web-sdk';
import { OFREPWebProvider } from '@openfeature/ofrep-web-provider';

globalThis.EventSource = EventSource; // Node 20 has none of its own

const [baseUrl, contextJSON] = process.argv.slice(2);
const print = (o) => process.stdout.write(JSON.stringify(o) + '\n');

OpenFeature.addHandler(ProviderEvents.ConfigurationChanged, (d) => {
  print({ event: 'changed', at: Date.now(), flags: d?.flagsChanged ?? [] });
});
OpenFeature.addHandler(ProviderEvents.Stale, (d) => print({ event: 'stale', message: d?.message ?? '' }));
OpenFeature.addHandler(ProviderEvents.Error, (d) => print({ event: 'error', message: d?.message ?? '' }));
await OpenFeature.setContext(JSON.parse(contextJSON));
await OpenFeature.setProviderAndWait(new OFREPWebProvider({ baseUrl, changeDetection: 'sse', cacheMode: 'disabled' }));
print({ event: 'ready' });
process.stdin.resume();
process.stdin.on('end', async () => {
  await OpenFeature.close();
  process.exit(0);
});
