import { join } from 'node:path';
import { blockdevAdd } from '../../graph/blockdev-add.js';
import { BlockGraph } from '../../graph/graph.js';
import type { NbdExportOptions } from '../export.js';
import { NbdServer, type NbdServerOptions } from '../server.js';
import { listenNbd, type NbdListener } from '../transport.js';

/** A Strata NBD server on a unix socket, serving one qcow2 image opened in a fresh graph. */
export interface ServedImage {
  graph: BlockGraph;
  server: NbdServer;
  listener: NbdListener;
  socket: string;
  /** `nbd+unix` URI of an export. */
  uri(name?: string): string;
  close(): Promise<void>;
}

/** Opens `image` (qcow2) as node `disk` and serves it as export `disk` on `dir/strata.sock`. */
export async function serveImage(
  dir: string,
  image: string,
  exportOptions: Partial<NbdExportOptions> = {},
  serverOptions: NbdServerOptions = {},
  prepare: (graph: BlockGraph) => void = () => undefined,
): Promise<ServedImage> {
  const graph = new BlockGraph();
  await blockdevAdd(graph, {
    driver: 'qcow2',
    'node-name': 'disk',
    file: { driver: 'file', filename: image },
  });
  prepare(graph);
  const server = new NbdServer(serverOptions);
  server.addExport(graph, { id: 'exp0', node: 'disk', writable: true, ...exportOptions });
  const socket = join(dir, 'strata.sock');
  const listener = await listenNbd(server, { type: 'unix', path: socket });
  return {
    graph,
    server,
    listener,
    socket,
    uri: (name = exportOptions.name ?? 'disk') => `nbd+unix:///${name}?socket=${socket}`,
    close: async () => {
      await listener.close();
      await server.stop();
      await graph.closeAll();
    },
  };
}
