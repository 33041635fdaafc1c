"""`python -m nova_config`, the same as the `nova-config` command."""

from nova_config.cli import main

raise SystemExit(main())
