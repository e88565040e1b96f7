import { QmpError } from '../errors.js';
import { RECORDED_QUERY_VERSION } from '../generated/recorded-introspection.js';
import { QmpServer, type QmpServerOptions, type QmpVersionInfo } from '../server/server.js';

/** The version the recorded daemon announces, so transcripts compare byte for byte. */
export const RECORDED_VERSION = RECORDED_QUERY_VERSION['return'] as unknown as QmpVersionInfo;

/**
 * A server with just enough stub handlers to replay the protocol transcripts: an empty daemon
 * (no jobs, no nodes, no exports).
 */
export function createStubServer(options: QmpServerOptions = {}): QmpServer {
  const server = new QmpServer({ version: RECORDED_VERSION, ...options });
  server.register('query-jobs', () => []);
  server.register('query-block-jobs', () => []);
  server.register('query-named-block-nodes', () => []);
  server.register('query-block-exports', () => []);
  server.register('job-cancel', () => {
    throw new QmpError('GenericError', 'Job not found');
  });
  for (const verb of ['block-job-pause', 'block-job-resume', 'block-job-cancel', 'block-job-complete']) {
    server.register(verb, (args) => {
      throw new QmpError('DeviceNotActive', `Block job '${String(args['device'])}' not found`);
    });
  }
  server.register('quit', (_args, context) => {
    context.session.closeAfterReply();
    return {};
  });
  return server;
}
