from automations.cli.main import main

raise SystemExit(main())
