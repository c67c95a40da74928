"""One module per subcommand group; each exposes `register(subparsers)`."""
