/** `--version` text. */
export function versionText(tool: string): string {
  return `${tool} version 7.2.0 (Strata, qemu-img compatible)\n`;
}

/** `--help` text: qemu-img's command syntax for the commands strata-img implements. */
export function helpText(tool: string): string {
  return `usage: ${tool} [standard options] command [command options]
Strata disk image utility (qemu-img compatible)

    '-h', '--help'       display this help and exit
    '-V', '--version'    output version information and exit

Command syntax:
  bitmap (--merge SOURCE | --add | --remove | --clear | --enable | --disable)... [-b source_file [-F source_fmt]] [-g granularity] [-f fmt] filename bitmap
  check [-q] [-f fmt] [--output=ofmt] [-r [leaks | all]] [-U] filename
  commit [-q] [-f fmt] [-b base] [-d] [-p] filename
  compare [-f fmt] [-F fmt] [-p] [-q] [-s] [-U] filename1 filename2
  convert [-U] [-c] [-p] [-q] [-n] [-f fmt] [-O output_fmt] [-B backing_file [-F backing_fmt]] [-o options] [--bitmaps] filename [filename2 [...]] output_filename
  create [-q] [-f fmt] [-b backing_file [-F backing_fmt]] [-u] [-o options] filename [size]
  info [-f fmt] [--output=ofmt] [--backing-chain] [-U] filename
  map [-f fmt] [--start-offset=offset] [--max-length=len] [--output=ofmt] [-U] filename
  measure [--output=ofmt] [-O output_fmt] [-o options] [--size N | [-f fmt] filename]
  snapshot [-U] [-q] [-l | -a snapshot | -c snapshot | -d snapshot] filename
  rebase [-U] [-q] [-f fmt] [-p] [-u] -b backing_file [-F backing_fmt] filename
  resize [-f fmt] [-q] [--shrink] filename [+ | -]size

Formats are never guessed for an image opened for writing: give -f for commands that write.

Supported formats: qcow2 raw
`;
}
