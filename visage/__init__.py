"""The `visage` command: one entry point whose subcommands live next to what they drive."""
