process.stderr.write('strata-io: not implemented yet\n');
process.exitCode = 1;
