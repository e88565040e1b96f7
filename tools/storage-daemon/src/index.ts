/**
 * `@strata/storage-daemon`: the library `strata-storage-daemon` is built from. The monitor
 * binds `@strata/block-layer` to a `@strata/qmp-protocol` server so that a program can run
 * a QMP-driven block layer in its own process.
 */

/** The monitor: QMP commands bound to a block graph and its jobs. */
export { createMonitor, type Monitor, type MonitorHandler, type MonitorOptions } from './monitor/monitor.js';
/** Block-layer failures as QMP errors. */
export { toQmpError } from './monitor/qmp-errors.js';
/** The daemon's clean shutdown: jobs cancelled, bitmaps stored, nodes closed. */
export { shutdownBlockLayer } from './monitor/shutdown.js';
