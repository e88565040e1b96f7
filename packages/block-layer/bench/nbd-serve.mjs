// Serves one qcow2 image over NBD from its own process (so a benchmark client does not
// share the server's event loop). Usage: node nbd-serve.mjs <image.qcow2> <socket>
// Prints "ready" once listening; exits on SIGTERM.
import { BlockGraph, blockdevAdd, listenNbd, NbdServer } from '../dist/index.js';

const [image, socket] = process.argv.slice(2);
const graph = new BlockGraph();
await blockdevAdd(graph, { driver: 'qcow2', 'node-name': 'disk', file: { driver: 'file', filename: image } });
const server = new NbdServer();
server.addExport(graph, { id: 'exp0', node: 'disk', writable: true });
const listener = await listenNbd(server, { type: 'unix', path: socket });
process.stdout.write('ready\n');
process.on('SIGTERM', async () => {
  await listener.close();
  await server.stop();
  await graph.closeAll();
  process.exit(0);
});
