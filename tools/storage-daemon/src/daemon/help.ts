/** The `--help` text: qemu-storage-daemon's options, limited to those this daemon implements. */
export function helpText(program: string): string {
  return `Usage: ${program} [options]
Strata storage daemon (qemu-storage-daemon 7.2 compatible)

  -h, --help             display this help and exit
  -V, --version          output version information and exit

  --blockdev [driver=]<driver>[,node-name=<N>][,read-only=on|off]
             [,driver specific parameters...]
                         configure a block backend
                         (drivers: file, raw, qcow2, null-co)

  --chardev socket,id=<id>,path=<path>,server=on[,wait=off]
  --chardev socket,id=<id>,host=<host>,port=<port>,server=on[,wait=off]
                         configure a listening socket for a monitor

  --daemonize            daemonize the process, and have the parent exit
                         once startup is complete

  --export [type=]nbd,id=<id>,node-name=<node-name>[,name=<export-name>]
           [,writable=on|off][,bitmap=<name>]
                         export the specified block node over NBD
                         (requires --nbd-server)

  --monitor [chardev=]name[,mode=control][,pretty[=on|off]]
                         configure a QMP monitor

  --nbd-server addr.type=inet,addr.host=<host>,addr.port=<port>
               [,max-connections=<n>]
  --nbd-server addr.type=unix,addr.path=<path>
               [,max-connections=<n>]
                         start an NBD server for exporting block nodes

  --object throttle-group,id=<id>[,<property>=<value>...]
                         create a throttle group (recorded)

  --pidfile <path>       write process ID to a file after startup
`;
}
