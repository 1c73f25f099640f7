"""ClassKit's headless command line: every engine job, with progress bars and --json."""
