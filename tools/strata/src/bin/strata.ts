// The strata command line is not built yet; say so clearly instead of failing obscurely.
process.stderr.write('strata: not implemented yet\n');
process.exitCode = 1;
