"""One module per subcommand; each has `run(args, reporter) -> exit code`."""
