// strata-storage-daemon is not built yet; say so clearly instead of failing obscurely.
process.stderr.write('strata-storage-daemon: not implemented yet\n');
process.exitCode = 1;
