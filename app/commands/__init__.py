"""The command line: `cli` builds the parser and runs a subcommand; one module each."""
