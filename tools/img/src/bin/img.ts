process.stderr.write('strata-img: not implemented yet\n');
process.exitCode = 1;
